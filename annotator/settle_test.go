package annotator

import (
	"errors"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestSettleCountsWhatIsNew: a run that found another delivering leaves
// what was spooled then to it, and settles for what was recorded after;
// with something new, Settle releases the spool lock for another round.
func TestSettleCountsWhatIsNew(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	other := newAnnotator(t, dir, fake.Endpoint())
	if err := other.outbox.LockDelivery(ctxFor(t, time.Second), false); err != nil {
		t.Fatal(err)
	}
	defer other.outbox.Close()

	a := newAnnotator(t, dir, fake.Endpoint())
	if err := a.outbox.Add(ctxFor(t, 5*time.Second), testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-before"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Deliver(ctxFor(t, time.Second), false); !errors.Is(err, outbox.ErrBusy) {
		t.Fatalf("deliver while another run delivers: %v, want ErrBusy", err)
	}
	// (Settle would keep the lock now, until this process exits.)
	if n := a.unseen(spooled(t, a.outbox)); n != 0 {
		t.Fatalf("with only the other run's entry spooled: %d new; want 0", n)
	}
	if err := a.outbox.Add(ctxFor(t, 5*time.Second), testEntry(deployTime.Add(time.Minute), "abcdefghijklmnopqrstuv0123456789-nixos-system-after"), 100); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Settle(ctxFor(t, 5*time.Second), false); err != nil || n != 1 {
		t.Fatalf("settle with one recorded meanwhile: %d new, %v; want 1", n, err)
	}
	// The lock was released for the round that delivers it.
	if err := a.outbox.Update(ctxFor(t, 5*time.Second), testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-none")); err != nil {
		t.Fatal(err)
	}
}
