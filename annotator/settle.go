package annotator

import (
	"context"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
)

// Settle ends a delivery run (see outbox.HoldSpool for why). It takes the
// spool lock and counts the spooled deploys this run has neither tried nor
// seen before another run was found delivering. When there are some and
// final is false, it releases the lock again: the caller delivers them
// and settles once more. Otherwise it keeps the lock until the process
// exits. With no state directory there is nothing to settle.
func (a *Annotator) Settle(ctx context.Context, final bool) (fresh int, err error) {
	err = a.outbox.HoldSpool(ctx, func(pending []*outbox.Entry) bool {
		fresh = a.unseen(pending)
		return fresh == 0 || final
	})
	return fresh, err
}

// unseen counts the spooled deploys this run has not seen.
func (a *Annotator) unseen(pending []*outbox.Entry) int {
	n := 0
	for _, e := range pending {
		if !a.seen[e.ID] {
			n++
		}
	}
	return n
}

// markSeen notes what is spooled now as another run's to deliver.
func (a *Annotator) markSeen() {
	pending, _ := a.outbox.Pending()
	for _, e := range pending {
		a.seen[e.ID] = true
	}
}
