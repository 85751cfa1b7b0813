package main

import (
	"context"
	"time"
)

// settle ends a run that delivered the spool (see annotator.Settle): its
// spans are exported first, then what was recorded meanwhile is delivered,
// round after round, each a "run" span of its own; once a look at the
// spool finds nothing new, the spool lock stays held until the process
// exits, and nothing more goes out. A flush's line then counts every
// round.
func (r *runner) settle(ctx context.Context, out outcome) outcome {
	a := r.delivering
	failed := false
	for {
		ectx, cancel := context.WithDeadline(context.Background(), r.budget.exportBy(time.Now()))
		if err := r.tel.Export(ectx); err != nil {
			r.log.Warn("traces not exported", "err", err)
		}
		cancel()
		final := failed || ctx.Err() != nil
		// The spool lock is only ever held for a file write, or by a run
		// about to exit: the whole run's deadline bounds the wait.
		lctx, cancel := context.WithDeadline(context.Background(), r.budget.deadline)
		fresh, err := a.Settle(lctx, final)
		cancel()
		if err != nil {
			r.log.Warn("could not settle the spool; what was recorded meanwhile waits for the next run", "err", err)
			return out
		}
		switch {
		case fresh == 0:
			r.settled = true
			return out
		case final:
			r.settled = true
			r.log.Warn("deploys recorded while this run ended stay spooled for the next run", "count", fresh)
			return out
		}
		r.log.Info("delivering what was recorded meanwhile", "count", fresh)
		more, err := r.traced(ctx, func(ctx context.Context) (outcome, error) { return r.deliverSpool(ctx, a, true) })
		if err != nil {
			r.log.Warn("what was recorded meanwhile was not delivered", "err", err)
			failed = true
			continue
		}
		if out.counts {
			more.delivered += out.delivered
			out = more
			out.line = flushLine(out)
		}
	}
}
