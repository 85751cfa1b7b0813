package annotator

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Delivery is one spooled deploy that is done: the target holds its
// annotation (ID), or it sends none.
type Delivery struct {
	Entry *outbox.Entry
	ID    string
}

// DeliveryRun says what a delivery run did.
type DeliveryRun struct {
	Delivered []Delivery
	// Pending counts what is still spooled.
	Pending int
	// Err is the last delivery error, nil when everything was delivered.
	Err error
}

// Deliver delivers the spool, oldest first, then whatever was recorded
// meanwhile. Without wait it returns outbox.ErrBusy at once when another
// run is delivering; with wait it waits for that run until ctx is done.
func (a *Annotator) Deliver(ctx context.Context, wait bool) (DeliveryRun, error) {
	// No state directory: nothing was recorded, and none is made.
	if ok, err := a.outbox.Exists(); err != nil || !ok {
		return DeliveryRun{}, err
	}
	if err := a.outbox.LockDelivery(ctx, wait); err != nil {
		if errors.Is(err, outbox.ErrBusy) {
			// What is spooled now is the other run's to deliver; what is
			// recorded from now on, this run's (see Settle).
			a.markSeen()
		}
		return DeliveryRun{}, err
	}
	defer a.outbox.UnlockDelivery()
	var res DeliveryRun
	seen := map[string]bool{}
	defer maps.Copy(a.seen, seen)
	for {
		r := a.round(ctx, seen)
		res.Delivered = append(res.Delivered, r.Delivered...)
		res.Pending, res.Err = r.Pending, r.Err
		if r.Err != nil || r.fresh == 0 || ctx.Err() != nil {
			a.retain(ctx, res)
			return res, nil
		}
	}
}

// retain tells Options.Retain, after a run that delivered something, the
// system the next deploy will be compared with (the newest recorded) and
// every system the state and the spool refer to: the one settled last,
// and each spooled deploy's system and the system before it.
func (a *Annotator) retain(ctx context.Context, res DeliveryRun) {
	if a.opts.Retain == nil || len(res.Delivered) == 0 {
		return
	}
	last, newest, err := a.outbox.Latest()
	if err != nil {
		return
	}
	pending, err := a.outbox.Pending()
	if err != nil {
		return
	}
	var next string
	var keep []string
	if last != nil {
		next = last.StorePath
		keep = append(keep, last.StorePath)
	}
	if newest != nil {
		next = newest.StorePath
	}
	for _, e := range pending {
		if e.Discovered != nil {
			keep = append(keep, e.StorePath, e.Discovered.Previous)
		}
	}
	a.opts.Retain(ctx, next, keep)
}

type round struct {
	DeliveryRun
	// fresh counts the entries this round saw for the first time.
	fresh int
}

// round is one pass over the spool. It stops at the first error that
// would fail the rest as well (the target unreachable, the token refused);
// an annotation the target rejects stays spooled and the rest go on.
func (a *Annotator) round(ctx context.Context, seen map[string]bool) round {
	var res round
	pending, err := a.outbox.Pending()
	if err != nil {
		res.Err = err
		return res
	}
	for i, e := range pending {
		if seen[e.ID] {
			res.Pending++
			continue
		}
		seen[e.ID] = true
		res.fresh++
		id, err := a.deliverEntry(ctx, e)
		if err == nil {
			res.Delivered = append(res.Delivered, Delivery{Entry: e, ID: id})
			continue
		}
		res.Err = err
		if errors.Is(err, target.ErrRejected) {
			res.Pending++
			continue
		}
		res.Pending += len(pending) - i
		return res
	}
	return res
}

// deliverEntry settles one entry under its own span, which continues the
// trace of the run that recorded it and links the run delivering it.
func (a *Annotator) deliverEntry(ctx context.Context, e *outbox.Entry) (id string, err error) {
	parent := trace.SpanContextFromContext(ctx)
	spanCtx := ctx
	if sc := parseTraceParent(e.TraceParent); sc.IsValid() && sc.TraceID() != parent.TraceID() {
		spanCtx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	spanCtx, span := a.opts.Tracer.Start(spanCtx, vocab.SpanDeliver, trace.WithLinks(trace.Link{SpanContext: parent}))
	defer func() {
		span.SetAttributes(DeployAttributes(e, a.opts.Settings.RepositoryURL)...)
		span.SetAttributes(vocab.AxiomAnnotationAttempts.Int(e.Attempts))
		if err != nil {
			span.SetAttributes(vocab.OutcomeSpooled.KeyValue())
			span.RecordError(err)
			span.SetStatus(codes.Error, target.ErrorText(err))
		} else {
			span.SetAttributes(outcomeOf(e).KeyValue())
			if id != "" {
				span.SetAttributes(vocab.AxiomAnnotationID.String(id))
			}
		}
		span.End()
	}()

	if settled, err := a.outbox.SettledAs(e); err != nil || settled != nil {
		if err != nil {
			return "", err
		}
		// A run that stopped between writing the state and removing the
		// spool file left this behind: it was delivered.
		return settled.AnnotationID, a.outbox.MarkDelivered(ctx, e, settled.AnnotationID)
	}
	if e.Annotation == nil {
		if err := a.prepare(spanCtx, e); err != nil {
			return "", err
		}
	}
	if e.NoAnnotation && !e.Rollout {
		return "", a.outbox.MarkDelivered(ctx, e, "")
	}
	if a.sender == nil {
		e.LastError = target.ErrorText(a.opts.NoTarget)
		return "", a.keepFailed(ctx, e, a.opts.NoTarget)
	}
	return a.send(ctx, spanCtx, e)
}

// keepFailed keeps what a failed delivery learnt in the spool entry, and
// returns its error.
func (a *Annotator) keepFailed(ctx context.Context, e *outbox.Entry, err error) error {
	// Losing this update to a crash leaves the record written ahead, which
	// errs on the safe side.
	if serr := a.outbox.Update(ctx, e); serr != nil {
		a.log.Warn("spool entry not updated", "err", serr)
	}
	if errors.Is(err, target.ErrRejected) {
		a.log.Warn("axiom rejected an annotation; it stays spooled until it is dropped", "id", e.ID, "title", e.Annotation.Title, "err", err)
	}
	return err
}

// send sends an entry's annotation through the target, keeping on disk
// what the sender learns.
func (a *Annotator) send(ctx, spanCtx context.Context, e *outbox.Entry) (string, error) {
	// Should this run stop while a request is out, the next one must look
	// the annotation up before sending it again: say so on disk first
	// (unless it says so already). Without that record nothing is sent.
	if !e.MaybeSent {
		ahead := *e
		ahead.MaybeSent = true
		// A run stopped while waiting stops waiting by its deadline at
		// the latest.
		ahead.Unanswered = time.Now().UTC()
		if dl, ok := ctx.Deadline(); ok {
			ahead.Unanswered = dl.UTC()
		}
		if err := a.outbox.SaveDurably(ctx, &ahead); err != nil {
			return "", err
		}
	}
	tries := target.Tries{Attempts: e.Attempts, MaybeSent: e.MaybeSent, Unanswered: e.Unanswered, LastError: e.LastError}
	id, err := a.sender.Send(spanCtx, e.Annotation, &tries)
	e.Attempts, e.MaybeSent, e.Unanswered, e.LastError = tries.Attempts, tries.MaybeSent, tries.Unanswered, tries.LastError
	if err != nil {
		return "", a.keepFailed(ctx, e, err)
	}
	a.log.Info("annotated", "title", e.Annotation.Title, "id", id, "time", e.Annotation.Time)
	if err := a.outbox.MarkDelivered(ctx, e, id); err != nil {
		// The target holds it: the next run must find it, not send it
		// again.
		e.MaybeSent = true
		_ = a.outbox.SaveDurably(ctx, e)
		return "", err
	}
	return id, nil
}

func outcomeOf(e *outbox.Entry) vocab.Outcome {
	if e.NoAnnotation && !e.Rollout {
		return vocab.OutcomeRecorded
	}
	return vocab.OutcomeAnnotated
}

// prepare works out what changed since the system deployed before and
// renders the annotation, then keeps both in the spool entry, so that a
// retry sends the same annotation.
func (a *Annotator) prepare(ctx context.Context, e *outbox.Entry) error {
	a.render(ctx, e)
	return a.outbox.Update(ctx, e)
}

// render works out what changed since the previous system, under the span
// "diff", and how the deploy ended, at once (the one asks Nix, the other
// systemd), then the time to restore, and renders the entry's annotation;
// it returns the changes, nil when unknown or when there is nothing to
// compare with.
func (a *Annotator) render(ctx context.Context, e *outbox.Entry) *nixinfo.Diff {
	var judged sync.WaitGroup
	judged.Go(func() { a.judge(ctx, e) })
	diff := a.diff(ctx, e.Discovered)
	judged.Wait()
	e.Changes = outbox.CountChanges(diff)
	a.restore(e)
	ann := render.Deploy{Generation: e.Discovered, Diff: diff, TraceID: a.traceID(e), Time: e.Time, Health: e.Health}.Annotation(a.opts.Settings)
	e.Annotation = &ann
	return diff
}

// diff is what changed since the system deployed before g, under the span
// "diff"; nil when unknown or when there is nothing to compare with.
func (a *Annotator) diff(ctx context.Context, g *nixinfo.Generation) *nixinfo.Diff {
	if g.Previous == "" {
		return nil
	}
	ctx, span := a.opts.Tracer.Start(ctx, vocab.SpanDiff, trace.WithAttributes(
		vocab.NixPreviousStorePath.String(g.Previous),
		vocab.NixStorePath.String(g.StorePath),
	))
	defer span.End()
	d, err := a.opts.Diff(ctx, g.Previous, g.StorePath)
	if err != nil {
		a.log.Warn("package changes unknown", "previous", g.Previous, "err", err)
		span.RecordError(err)
		return nil
	}
	recordChanges(span, d)
	return d
}
