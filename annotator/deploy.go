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
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
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
	// Retain, when set, is told at the end of a delivery run that
	// delivered something which system the next deploy will be compared
	// with, and which systems the state and the spool can still refer to:
	// nixinfo.Closures.Retain, which keeps their closure snapshots.
	Retain func(ctx context.Context, next string, keep []string)
	// Health judges NixOS deploys by their failed units; nil judges none
	// (their health is unknown).
	Health Health
}

// Annotator is the one path by which a deploy is told to Axiom once: it
// records deploys in the store and delivers them.
type Annotator struct {
	store *Store
	opts  Options
	log   *slog.Logger
	// seen holds the spooled deploys Deliver tried, or left to another run
	// delivering, for Settle.
	seen map[string]bool
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
	return &Annotator{store: store, opts: opts, log: opts.Log, seen: map[string]bool{}}
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
	err := a.store.change(ctx, func() error {
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
		e := newEntry(ctx, g, at)
		e.NoAnnotation = a.opts.NoAnnotation
		a.recordBefore(ctx, e)
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
	return e, a.store.Add(ctx, e, a.opts.SpoolLimit)
}

// Latest is the newest deploy recorded, as Record sees it.
func (a *Annotator) Latest() (*Record, *Entry, error) { return a.store.Latest() }

// Pending is what is spooled, oldest first.
func (a *Annotator) Pending() ([]*Entry, error) { return a.store.Pending() }

// Drop removes spooled entries by id.
func (a *Annotator) Drop(ctx context.Context, ids ...string) ([]*Entry, error) {
	return a.store.Drop(ctx, ids...)
}

// Settled says whether e, recorded by this run, is no longer spooled
// (another run delivered or dropped it); the record is the state's when it
// is e's, nil when a deploy recorded later was settled since.
func (a *Annotator) Settled(e *Entry) (bool, *Record, error) {
	if _, err := a.store.Find(e.ID); !errors.Is(err, ErrNoEntry) {
		return false, nil, err
	}
	last, err := a.store.last()
	if err != nil {
		return false, nil, err
	}
	if last != nil && last.Seq == e.Seq && last.StorePath == e.StorePath {
		return true, last, nil
	}
	return true, nil, nil
}

// Find is the spooled entries of the ids, as Drop would remove them.
func (a *Annotator) Find(ids ...string) ([]*Entry, error) { return a.store.Find(ids...) }

// Preview is what delivering a deploy would send, without recording it.
func (a *Annotator) Preview(ctx context.Context, g *nixinfo.Generation, at time.Time) (*Entry, *nixinfo.Diff) {
	e := newEntry(ctx, g, at)
	diff := a.describe(ctx, e)
	return e, diff
}

// newEntry is the spool entry of a deploy found at a time, in the trace of
// ctx.
func newEntry(ctx context.Context, g *nixinfo.Generation, at time.Time) *Entry {
	return &Entry{StorePath: g.StorePath, Generation: g.Number, Time: at.UTC().Truncate(time.Millisecond), Deploy: g, TraceParent: traceParent(ctx)}
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
// "web-1 rollback to gen 41", "alice@laptop hm gen 12".
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
		host = who(e.Deploy)
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
	ctx, span := a.opts.Tracer.Start(ctx, vocab.SpanDiscover)
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
	span.SetAttributes(generationAttributes(g, a.opts.Settings.RepositoryURL)...)
	return g, nil
}

func (a *Annotator) traceID(e *Entry) string {
	if !a.opts.ShowTraceID {
		return ""
	}
	return traceIDOf(e.TraceParent)
}
