package annotator

import (
	"context"
	"errors"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Recording says what recording a deploy did, or would do.
type Recording struct {
	// Entry is the deploy recorded now; nil when it was not new.
	Entry *outbox.Entry
	// Settled is set when the system is the deploy settled last
	// (annotated, or done with without an annotation), not forced again.
	Settled *outbox.Settled
	// Pending is set when the system is the newest deploy still spooled:
	// no second copy is queued.
	Pending *outbox.Entry
}

// NewDeploy says whether the deploy is a new one, to be recorded.
func (r Recording) NewDeploy() bool { return r.Settled == nil && r.Pending == nil }

// judge is the rule for a system deployed now, given the newest deploy
// recorded (last settled, or pending): it is a new deploy unless it is
// that one, still spooled (never queued twice, not even with force), or
// settled last and not forced.
func judge(last *outbox.Settled, pending *outbox.Entry, system string, force bool) Recording {
	switch {
	case pending != nil && pending.StorePath == system:
		return Recording{Pending: pending}
	case pending == nil && last != nil && last.StorePath == system && !force:
		return Recording{Settled: last}
	}
	return Recording{}
}

// byHistory is g judged by the systems deployed here (oldest first, the
// newest recorded last): a system deployed before that is not the newest
// is a rollback to it, named by the generation and revision (with its
// commit time) it had then, whatever the profile holds now (a rollback
// that deleted the newer generation, or garbage collection that deleted
// the older one). A system that was deployed before only as a test
// activation, with no generation, is not a rollback by history. g itself
// is not changed.
func byHistory(history []outbox.Deployed, g *nixinfo.Generation) *nixinfo.Generation {
	n := len(history)
	if n == 0 || history[n-1].StorePath == g.StorePath {
		return g
	}
	for i := n - 2; i >= 0; i-- {
		d := history[i]
		if d.StorePath != g.StorePath || d.Generation == nil {
			continue
		}
		c := *g
		number := *d.Generation
		c.Number, c.Rollback = &number, true
		if d.Revision != "" {
			// The commit time goes with the revision it was recorded with.
			if d.Revision != g.Revision || d.CommitTime != nil {
				c.CommitTime = d.CommitTime
			}
			c.Revision, c.Dirty = d.Revision, d.Dirty
		}
		return &c
	}
	return g
}

// Previous is the system a deploy found now is compared with: the newest
// deploy recorded, spooled or settled; "" when there is none.
func (a *Annotator) Previous() (string, error) {
	last, pending, err := a.outbox.Latest()
	switch {
	case err != nil:
		return "", err
	case pending != nil:
		return pending.StorePath, nil
	case last != nil:
		return last.StorePath, nil
	}
	return "", nil
}

// Record spools a deploy unless it is the newest recorded already: the
// system settled last, or the newest still spooled. With force a system
// settled last is recorded again; one still spooled never is. Record
// never waits for a delivery in progress.
func (a *Annotator) Record(ctx context.Context, g *nixinfo.Generation, at time.Time, force bool) (Recording, error) {
	var rec Recording
	added, err := a.outbox.AddUnless(ctx, a.opts.SpoolLimit,
		func(last *outbox.Settled, pending *outbox.Entry) bool {
			rec = judge(last, pending, g.StorePath, force)
			return !rec.NewDeploy()
		},
		func() (*outbox.Entry, error) {
			history, err := a.outbox.History()
			if err != nil {
				return nil, err
			}
			e := newEntry(ctx, byHistory(history, g), at)
			a.warnSkew(e.Discovered, e.Time)
			e.NoAnnotation = a.opts.NoAnnotation
			return e, nil
		})
	rec.Entry = added
	return rec, err
}

// Preview is what recording a deploy would do, and what delivering it
// would send, without recording anything: the dry run's answer.
type Preview struct {
	Recording
	// Would is the entry that would be spooled, its annotation rendered.
	Would *outbox.Entry
	// Diff is what changed since the previous system, nil when unknown or
	// when there is nothing to compare with.
	Diff *nixinfo.Diff
}

// Preview judges a deploy as Record would and renders its annotation as a
// delivery would, recording nothing.
func (a *Annotator) Preview(ctx context.Context, g *nixinfo.Generation, at time.Time, force bool) (Preview, error) {
	last, pending, err := a.outbox.Latest()
	if err != nil {
		return Preview{}, err
	}
	history, err := a.outbox.History()
	if err != nil {
		return Preview{}, err
	}
	e := newEntry(ctx, byHistory(history, g), at)
	diff := a.render(ctx, e)
	return Preview{Recording: judge(last, pending, g.StorePath, force), Would: e, Diff: diff}, nil
}

// RecordRollout spools a fleet rollout's annotation, rendered already; the
// delivery's span continues the rollout's trace.
func (a *Annotator) RecordRollout(ctx context.Context, ann *annotation.Annotation) (*outbox.Entry, error) {
	e := &outbox.Entry{Rollout: true, Time: ann.Time, Annotation: ann, TraceParent: traceParent(ctx)}
	return e, a.outbox.Add(ctx, e, a.opts.SpoolLimit)
}

// Pending is what is spooled, oldest first.
func (a *Annotator) Pending() ([]*outbox.Entry, error) { return a.outbox.Pending() }

// Find is the spooled entries of the ids, as Drop would remove them.
func (a *Annotator) Find(ids ...string) ([]*outbox.Entry, error) { return a.outbox.Find(ids...) }

// Drop removes spooled entries by id.
func (a *Annotator) Drop(ctx context.Context, ids ...string) ([]*outbox.Entry, error) {
	return a.outbox.Drop(ctx, ids...)
}

// Settled says whether e, recorded by this run, is no longer spooled
// (another run delivered or dropped it); the record is the state's when it
// is e's, nil when a deploy recorded later was settled since.
func (a *Annotator) Settled(e *outbox.Entry) (bool, *outbox.Settled, error) {
	if _, err := a.outbox.Find(e.ID); !errors.Is(err, outbox.ErrNoEntry) {
		return false, nil, err
	}
	settled, err := a.outbox.SettledAs(e)
	if err != nil {
		return false, nil, err
	}
	return true, settled, nil
}

// newEntry is the spool entry of a deploy found at a time, in the trace of
// ctx.
func newEntry(ctx context.Context, g *nixinfo.Generation, at time.Time) *outbox.Entry {
	return &outbox.Entry{StorePath: g.StorePath, Generation: g.Number, Time: at.UTC().Truncate(time.Millisecond), Discovered: g, TraceParent: traceParent(ctx)}
}
