package annotator

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Delivery is one spooled deploy that is done: Axiom holds its annotation
// (ID), or it sends none.
type Delivery struct {
	Entry *Entry
	ID    string
}

// FlushResult says what a delivery run did.
type FlushResult struct {
	Delivered []Delivery
	// Pending counts what is still spooled.
	Pending int
	// Err is the last delivery error, nil when everything was delivered.
	Err error
}

// Deliver delivers the spool, oldest first, then whatever was recorded
// meanwhile. Without wait it returns ErrBusy at once when another run is
// delivering; with wait it waits for that run until ctx is done.
func (a *Annotator) Deliver(ctx context.Context, wait bool) (FlushResult, error) {
	// No state directory: nothing was recorded, and none is made.
	if ok, err := a.store.open(false); err != nil || !ok {
		return FlushResult{}, err
	}
	if err := a.store.LockDelivery(ctx, wait); err != nil {
		if errors.Is(err, ErrBusy) {
			// What is spooled now is the other run's to deliver; what is
			// recorded from now on, this run's (see Settle).
			a.markSeen()
		}
		return FlushResult{}, err
	}
	defer a.store.unlockDelivery()
	var res FlushResult
	seen := map[string]bool{}
	defer maps.Copy(a.seen, seen)
	for {
		r := a.flush(ctx, seen)
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
// every system the state and the spool refer to: the one annotated last,
// and each spooled deploy's system and the system before it.
func (a *Annotator) retain(ctx context.Context, res FlushResult) {
	if a.opts.Retain == nil || len(res.Delivered) == 0 {
		return
	}
	last, newest, err := a.store.Latest()
	if err != nil {
		return
	}
	pending, err := a.store.Pending()
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
		if e.Deploy != nil {
			keep = append(keep, e.StorePath, e.Deploy.Previous)
		}
	}
	a.opts.Retain(ctx, next, keep)
}

type flushRound struct {
	FlushResult
	// fresh counts the entries this round saw for the first time.
	fresh int
}

// flush is one round over the spool. It stops at the first error that
// would fail the rest as well (Axiom unreachable, the token refused); an
// annotation Axiom rejects stays spooled and the rest go on.
func (a *Annotator) flush(ctx context.Context, seen map[string]bool) flushRound {
	var res flushRound
	pending, err := a.store.Pending()
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
		id, err := a.deliver(ctx, e)
		if err == nil {
			res.Delivered = append(res.Delivered, Delivery{Entry: e, ID: id})
			continue
		}
		res.Err = err
		if errors.Is(err, ErrRejected) {
			res.Pending++
			continue
		}
		res.Pending += len(pending) - i
		return res
	}
	return res
}

// deliver settles one entry under its own span, which continues the trace
// of the run that recorded it and links the run delivering it.
func (a *Annotator) deliver(ctx context.Context, e *Entry) (id string, err error) {
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
			span.SetStatus(codes.Error, errText(err))
		} else {
			span.SetAttributes(outcomeOf(e).KeyValue())
			if id != "" {
				span.SetAttributes(vocab.AxiomAnnotationID.String(id))
			}
		}
		span.End()
	}()

	if id, done, err := a.deliveredBefore(e); err != nil || done {
		if err != nil {
			return "", err
		}
		return id, a.store.MarkDelivered(ctx, e, id)
	}
	if e.Request == nil {
		if err := a.prepare(spanCtx, e); err != nil {
			return "", err
		}
	}
	if e.NoAnnotation && !e.Rollout {
		return "", a.store.MarkDelivered(ctx, e, "")
	}
	if a.opts.Sender == nil {
		return "", ErrNoToken
	}
	// Should this run stop while a request is out, the next one must look
	// the annotation up before sending it again: say so on disk first
	// (unless it says so already, or nothing can be sent). Without that
	// record nothing is sent.
	if a.opts.Sender.canSend() && !e.MaybeSent {
		ahead := *e
		ahead.MaybeSent = true
		// A run stopped while waiting stops waiting by its deadline at
		// the latest.
		ahead.Unanswered = time.Now().UTC()
		if dl, ok := ctx.Deadline(); ok {
			ahead.Unanswered = dl.UTC()
		}
		if err := a.store.saveDurably(ctx, &ahead); err != nil {
			return "", err
		}
	}
	id, err = a.opts.Sender.deliver(spanCtx, e)
	if err != nil {
		// Losing this update to a crash leaves the record written ahead,
		// which errs on the safe side.
		if serr := a.store.update(ctx, e); serr != nil {
			a.log.Warn("spool entry not updated", "err", serr)
		}
		if errors.Is(err, ErrRejected) {
			a.log.Warn("axiom rejected an annotation; it stays spooled until it is dropped", "id", e.ID, "title", e.Request.Title, "err", err)
		}
		return "", err
	}
	a.log.Info("annotated", "title", e.Request.Title, "id", id, "time", e.Request.Time)
	if err := a.store.MarkDelivered(ctx, e, id); err != nil {
		// Axiom holds it: the next run must find it, not send it again.
		e.MaybeSent = true
		_ = a.store.saveDurably(ctx, e)
		return "", err
	}
	return id, nil
}

// deliveredBefore says whether the state names e as delivered, with its
// annotation id: a run that stopped between writing the state and
// removing the spool file left e behind.
func (a *Annotator) deliveredBefore(e *Entry) (string, bool, error) {
	last, err := a.store.last()
	if err != nil || e.Rollout || last == nil || e.Seq == 0 || last.Seq != e.Seq || last.StorePath != e.StorePath {
		return "", false, err
	}
	return last.AnnotationID, true, nil
}

func outcomeOf(e *Entry) vocab.Outcome {
	if e.NoAnnotation && !e.Rollout {
		return vocab.OutcomeRecorded
	}
	return vocab.OutcomeAnnotated
}

// prepare works out what changed since the system deployed before and
// builds the annotation, then keeps both in the spool entry, so that a
// retry sends the same annotation.
func (a *Annotator) prepare(ctx context.Context, e *Entry) error {
	a.describe(ctx, e)
	return a.store.update(ctx, e)
}

// describe works out what changed since the system deployed before, under
// the span "diff", and builds the entry's annotation; it returns the
// changes, nil when unknown or when there is nothing to compare with.
func (a *Annotator) describe(ctx context.Context, e *Entry) *nixinfo.Diff {
	g := e.Deploy
	var diff *nixinfo.Diff
	if g.Previous != "" {
		ctx, span := a.opts.Tracer.Start(ctx, vocab.SpanDiff, trace.WithAttributes(
			vocab.NixPreviousStorePath.String(g.Previous),
			vocab.NixStorePath.String(g.StorePath),
		))
		d, err := a.opts.Diff(ctx, g.Previous, g.StorePath)
		if err != nil {
			a.log.Warn("package changes unknown", "previous", g.Previous, "err", err)
			span.RecordError(err)
		} else {
			diff = d
			recordChanges(span, d)
		}
		span.End()
	}
	e.Changes = countChanges(diff)
	a.judge(ctx, e)
	e.Request = Build(Deploy{Generation: g, Diff: diff, TraceID: a.traceID(e), Time: e.Time, Health: e.Health}, a.opts.Settings)
	return diff
}
