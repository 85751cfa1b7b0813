// Package annotator is the one path by which a deploy is told once: it
// records deploys in the outbox, delivers what is recorded to a target, and
// drops what a target keeps refusing; and it decides, once, which system is
// a new deploy and which one it is compared with. What is said is
// rendering's (render), how it is kept the outbox's (outbox), and where it
// goes the target's (target).
package annotator

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Options configure an Annotator.
type Options struct {
	Settings   render.Settings
	SpoolLimit int
	// NoAnnotation records and traces deploys but sends no annotation: for
	// fleets whose rollout annotation is the one line on the charts.
	NoAnnotation bool
	// Target is where annotations go; nil for runs that send nothing.
	Target target.Target
	// NoTarget says why there is no target (no usable token): deliveries
	// fail with it, and deploys stay spooled.
	NoTarget error
	// Retry is how a delivery tries again.
	Retry target.Retry
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

// Annotator records deploys in an outbox and delivers them.
type Annotator struct {
	outbox *outbox.Outbox
	opts   Options
	sender *target.Sender
	log    *slog.Logger
	// seen holds the spooled deploys Deliver tried, or left to another run
	// delivering, for Settle.
	seen map[string]bool
}

// New makes an Annotator on an open outbox.
func New(o *outbox.Outbox, opts Options) *Annotator {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.Diff == nil {
		opts.Diff = nixinfo.DiffSystems
	}
	if opts.Target == nil && opts.NoTarget == nil {
		opts.NoTarget = target.ErrNoTarget
	}
	a := &Annotator{outbox: o, opts: opts, log: opts.Log, seen: map[string]bool{}}
	if opts.Target != nil {
		a.sender = target.NewSender(opts.Target, opts.Retry, opts.Tracer, opts.Log)
	}
	return a
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

func (a *Annotator) traceID(e *outbox.Entry) string {
	if !a.opts.ShowTraceID {
		return ""
	}
	return traceIDOf(e.TraceParent)
}
