package annotator

import (
	"context"

	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Options configure an Annotator.
type Options struct {
	Settings   Settings
	SpoolLimit int
	// NoAnnotation records and traces deploys but sends no annotation: for
	// fleets whose rollout annotation is the one line on the charts.
	NoAnnotation bool
	// Sender delivers; nil for runs that only record.
	Sender *Sender
	// Tracer makes the spans; nil makes none.
	Tracer trace.Tracer
	// ShowTraceID puts the trace id in the description: set it when the
	// spans are exported.
	ShowTraceID bool
	Log         *slog.Logger
	// Diff finds what changed between two systems; nil means
	// nixinfo.DiffSystems.
	Diff func(ctx context.Context, before, after string) (*nixinfo.Diff, error)
}

// Annotator is the one path by which a deploy is told to Axiom once: it
// records deploys in the store and delivers them.
type Annotator struct {
	store *Store
	opts  Options
	log   *slog.Logger
}

// New makes an Annotator on an open store.
func New(store *Store, opts Options) *Annotator {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.Diff == nil {
		opts.Diff = nixinfo.DiffSystems
	}
	return &Annotator{store: store, opts: opts, log: opts.Log}
}

// Recording says what Record did.
type Recording struct {
	// Entry is the deploy recorded now; nil when it was not new.
	Entry *Entry
	// Annotated is set when the system was the one annotated last.
	Annotated *Record
	// Pending is set when the system is the newest deploy still spooled:
	// no second copy is queued.
	Pending *Entry
}

// Record spools a deploy unless it is the newest recorded already: the
// system annotated last, or the newest still spooled. With force a system
// annotated last is recorded again; one still spooled never is. Record
// never waits for a delivery in progress.
func (a *Annotator) Record(ctx context.Context, g *nixinfo.Generation, at time.Time, force bool) (Recording, error) {
	var rec Recording
	err := a.store.change(func() error {
		last, pending, err := a.store.Latest()
		if err != nil {
			return err
		}
		switch {
		case pending != nil && pending.StorePath == g.StorePath:
			rec.Pending = pending
			return nil
		case pending == nil && last != nil && last.StorePath == g.StorePath && !force:
			rec.Annotated = last
			return nil
		}
		e := &Entry{
			StorePath:    g.StorePath,
			Generation:   g.Number,
			Time:         at.UTC().Truncate(time.Millisecond),
			Deploy:       g,
			TraceParent:  traceParent(ctx),
			NoAnnotation: a.opts.NoAnnotation,
		}
		if err := a.store.add(e, a.opts.SpoolLimit); err != nil {
			return err
		}
		rec.Entry = e
		return nil
	})
	return rec, err
}

// RecordRollout spools a fleet rollout's annotation, built already; the
// delivery's span continues the rollout's trace.
func (a *Annotator) RecordRollout(ctx context.Context, req *axiom.AnnotationCreateRequest) (*Entry, error) {
	e := &Entry{Rollout: true, Time: req.Time, Request: req, TraceParent: traceParent(ctx)}
	return e, a.store.Add(e, a.opts.SpoolLimit)
}

// Latest is the newest deploy recorded, as Record sees it.
func (a *Annotator) Latest() (*Record, *Entry, error) { return a.store.Latest() }

// Pending is what is spooled, oldest first.
func (a *Annotator) Pending() ([]*Entry, error) { return a.store.Pending() }

// Drop removes spooled entries by id.
func (a *Annotator) Drop(ids ...string) ([]*Entry, error) { return a.store.Drop(ids...) }

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
	if err := a.store.LockDelivery(ctx, wait); err != nil {
		return FlushResult{}, err
	}
	defer a.store.Close()
	var res FlushResult
	seen := map[string]bool{}
	for {
		r := a.flush(ctx, seen)
		res.Delivered = append(res.Delivered, r.Delivered...)
		res.Pending, res.Err = r.Pending, r.Err
		if r.Err != nil || r.fresh == 0 || ctx.Err() != nil {
			return res, nil
		}
	}
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
	spanCtx, span := a.opts.Tracer.Start(spanCtx, "deliver", trace.WithLinks(trace.Link{SpanContext: parent}))
	defer func() {
		span.SetAttributes(DeployAttributes(e, a.opts.Settings.RepositoryURL)...)
		span.SetAttributes(attribute.Int("axiom.annotation.attempts", e.Attempts))
		if err != nil {
			span.SetAttributes(attribute.String("deploy.outcome", "spooled"))
			span.RecordError(err)
			span.SetStatus(codes.Error, errText(err))
		} else {
			span.SetAttributes(attribute.String("deploy.outcome", outcomeOf(e)))
			if id != "" {
				span.SetAttributes(attribute.String("axiom.annotation.id", id))
			}
		}
		span.End()
	}()

	if last := a.store.LastAnnotated(); !e.Rollout && last != nil && e.Seq != 0 && last.Seq == e.Seq && last.StorePath == e.StorePath {
		// A run that stopped between writing the state and removing the
		// spool file left this behind: it was delivered.
		return last.AnnotationID, a.store.MarkDelivered(e, last.AnnotationID)
	}
	if e.Request == nil {
		if err := a.prepare(spanCtx, e); err != nil {
			return "", err
		}
	}
	if e.NoAnnotation && !e.Rollout {
		return "", a.store.MarkDelivered(e, "")
	}
	if a.opts.Sender == nil {
		return "", ErrNoToken
	}
	// Should this run stop while a request is out, the next one must look
	// the annotation up before sending it again: say so on disk first
	// (unless it says so already, or nothing can be sent). Without that
	// record nothing is sent.
	if a.opts.Sender.CanSend() && !e.MaybeSent {
		ahead := *e
		ahead.MaybeSent = true
		if err := a.store.Save(&ahead); err != nil {
			return "", err
		}
	}
	id, err = a.opts.Sender.deliver(spanCtx, e)
	if err != nil {
		// Losing this update to a crash leaves the record written ahead,
		// which errs on the safe side.
		if serr := a.store.update(e); serr != nil {
			a.log.Warn("spool entry not updated", "err", serr)
		}
		if errors.Is(err, ErrRejected) {
			a.log.Warn("axiom rejected an annotation; it stays spooled until it is dropped", "id", e.ID, "title", e.Request.Title, "err", err)
		}
		return "", err
	}
	a.log.Info("annotated", "title", e.Request.Title, "id", id, "time", e.Request.Time)
	if err := a.store.MarkDelivered(e, id); err != nil {
		// Axiom holds it: the next run must find it, not send it again.
		e.MaybeSent = true
		_ = a.store.Save(e)
		return "", err
	}
	return id, nil
}

func outcomeOf(e *Entry) string {
	if e.NoAnnotation && !e.Rollout {
		return "recorded"
	}
	return "annotated"
}

// prepare works out what changed since the system deployed before and
// builds the annotation, then keeps both in the spool entry, so that a
// retry sends the same annotation.
func (a *Annotator) prepare(ctx context.Context, e *Entry) error {
	g := e.Deploy
	var diff *nixinfo.Diff
	if g.Previous != "" {
		ctx, span := a.opts.Tracer.Start(ctx, "diff", trace.WithAttributes(
			attribute.String("nix.previous_store_path", g.Previous),
			attribute.String("nix.store_path", g.StorePath),
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
	e.Request = Build(Deploy{Generation: g, Diff: diff, TraceID: a.traceID(e), Time: e.Time}, a.opts.Settings)
	return a.store.update(e)
}

// Preview is what delivering a deploy would send, without recording it.
func (a *Annotator) Preview(ctx context.Context, g *nixinfo.Generation, at time.Time) (*Entry, *nixinfo.Diff) {
	e := &Entry{StorePath: g.StorePath, Generation: g.Number, Time: at.UTC().Truncate(time.Millisecond), Deploy: g, TraceParent: traceParent(ctx)}
	var diff *nixinfo.Diff
	if g.Previous != "" {
		d, err := a.opts.Diff(ctx, g.Previous, g.StorePath)
		if err != nil {
			a.log.Warn("package changes unknown", "previous", g.Previous, "err", err)
		} else {
			diff = d
		}
	}
	e.Changes = countChanges(diff)
	e.Request = Build(Deploy{Generation: g, Diff: diff, TraceID: a.traceID(e), Time: e.Time}, a.opts.Settings)
	return e, diff
}

func countChanges(d *nixinfo.Diff) *ChangeCounts {
	if d == nil {
		return &ChangeCounts{}
	}
	c := &ChangeCounts{Known: true, Total: len(d.Changes), SizeBefore: d.SizeBefore, SizeAfter: d.SizeAfter}
	for _, ch := range d.Changes {
		switch ch.Kind() {
		case nixinfo.Upgrade:
			c.Upgrades++
		case nixinfo.Downgrade:
			c.Downgrades++
		case nixinfo.Added:
			c.Added++
		case nixinfo.Removed:
			c.Removed++
		}
	}
	return c
}

// Name is the deploy's short name: "web-1 gen 42", "web-1 test",
// "web-1 rollback to gen 41".
func (e *Entry) Name() string {
	if e.Deploy != nil {
		return deployName(e.Deploy)
	}
	if e.Request != nil {
		return e.Request.Title
	}
	return e.StorePath
}

// DeploymentID is stable for one deploy of one host: the run that records
// it and the run that delivers it give the same.
func (e *Entry) DeploymentID() string {
	host := ""
	if e.Deploy != nil {
		host = e.Deploy.Hostname
	}
	what := e.StorePath
	if e.Rollout {
		what = "rollout"
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", host, what, e.Time.UnixMilli()))
	return hex.EncodeToString(sum[:8])
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// Discover finds what is deployed, under the span "discover".
func (a *Annotator) Discover(ctx context.Context, opts nixinfo.Options) (*nixinfo.Generation, error) {
	ctx, span := a.opts.Tracer.Start(ctx, "discover")
	defer span.End()
	if opts.Log == nil {
		opts.Log = a.log
	}
	g, err := nixinfo.Discover(ctx, opts)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(GenerationAttributes(g, a.opts.Settings.RepositoryURL)...)
	return g, nil
}

func (a *Annotator) traceID(e *Entry) string {
	if !a.opts.ShowTraceID {
		return ""
	}
	return traceIDOf(e.TraceParent)
}
