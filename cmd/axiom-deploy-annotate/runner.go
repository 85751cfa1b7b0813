package main

import (
	"context"
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// runner is one run of a mode: its settings, where it writes, its time
// and its trace.
type runner struct {
	c      config
	mode   *mode
	args   []string
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	log    *slog.Logger
	// budget is the run's time; a rollout's starts again when its command
	// ends.
	budget budget
	tok    axiomToken
	tracer trace.Tracer
	host   string
	// exporting says whether the run's spans leave the process.
	exporting bool
	tel       *telemetry.Provider
	// delivering is the annotator of a run that delivered the spool, which
	// settles before it ends; settled says it has.
	delivering *annotator.Annotator
	settled    bool
	// closures diffs the closures of the run's deploys; made at first use.
	closures *nixinfo.Closures
}

// shortHostname finds the host name when --hostname gives none.
var shortHostname = nixinfo.ShortHostname

// outcome is what a mode did: the run span's deploy.outcome, the line for
// stdout (shown as text.Line makes it: it may name an id from Axiom or a
// title from the state), and the delivery error that leaves it spooled.
type outcome struct {
	outcome vocab.Outcome
	line    string
	err     error
	entry   *outbox.Entry
	id      string
	// counts says that delivered and pending count what a flush delivered
	// and left.
	counts             bool
	delivered, pending int
}

// run runs the mode, and returns the exit status it ends with when there
// is no error: 0, or a rollout's command's.
func (r *runner) run() (int, error) {
	if err := r.start(); err != nil {
		return 0, err
	}
	defer r.finish()
	if r.mode.token == tokenRequired && !r.c.dryRun {
		if _, err := r.token(); err != nil {
			return 0, fail(exitUsage, fmt.Errorf("no usable Axiom token: %v", err))
		}
	}
	if r.c.dryRun {
		return r.mode.dryRun(r)
	}
	return r.mode.run(r)
}

// start begins the run's time, finds the host, and sets up the trace: a
// mode whose spans are dropped, and every dry run, exports nothing; a
// record, which a switch waits for, writes its spans to the state
// directory for the next delivery to send.
func (r *runner) start() error {
	c := r.c
	r.budget = newBudget(time.Duration(c.Timeout), time.Now())
	r.host = c.Hostname
	if r.host == "" {
		h, err := shortHostname()
		if err != nil {
			return fail(exitInternal, err)
		}
		r.host = h
	}
	endpoint, token := c.TracesEndpoint, ""
	if c.dryRun || r.mode.spans == spansDropped {
		endpoint = ""
	}
	if endpoint != "" && r.mode.spans == spansExported {
		token = r.tracesToken()
	}
	ctx, cancel := context.WithDeadline(context.Background(), r.budget.deadline)
	defer cancel()
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		Endpoint:    endpoint,
		Dataset:     c.TracesDataset,
		Token:       token,
		OrgID:       c.OrgID,
		Version:     versionString(),
		Host:        r.host,
		Environment: c.Environment,
		Timeout:     r.budget.reserve(),
		StateDir:    c.StateDir,
		Defer:       r.mode.spans == spansDeferred,
	}, r.log)
	if err != nil {
		return fail(exitInternal, err)
	}
	r.tel, r.exporting, r.tracer = tel, tel.Exporting, tel.Tracer()
	return nil
}

// finish exports what is left of the trace, and what earlier runs
// spooled: it may take the reserve, never past the run's deadline. A run
// that settled exported its spans already, and may not wait on the network
// while it holds the spool lock: it sends nothing more (no span ends after
// the export; what records spooled meanwhile waits for the next run).
func (r *runner) finish() {
	if r.settled {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), r.budget.exportBy(time.Now()))
	defer cancel()
	if err := r.tel.Shutdown(ctx); err != nil {
		r.log.Warn("traces not exported", "err", err)
	}
}

// inRunSpan runs f under the root span "run", until the budget's work is
// done, with an annotator on the state directory when the mode keeps
// state there; a run that delivered the spool then settles it. It says
// what f did on stdout.
func (r *runner) inRunSpan(f modeFunc) error {
	ctx, cancel := context.WithDeadline(context.Background(), r.budget.work())
	defer cancel()
	ctx = telemetry.FromEnvironment(ctx)
	out, err := r.traced(ctx, func(ctx context.Context) (outcome, error) { return r.withAnnotator(ctx, f) })
	if err == nil && r.delivering != nil {
		out = r.settle(ctx, out)
	}
	if err == nil && out.line != "" {
		fmt.Fprintln(r.stdout, text.Line(out.line))
	}
	return err
}

// traced runs fn under a root span "run", and says in the span what it
// did; the line names the trace of an annotation exported.
func (r *runner) traced(ctx context.Context, fn func(context.Context) (outcome, error)) (outcome, error) {
	ctx, span := r.tracer.Start(ctx, vocab.SpanRun, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		r.mode.name.KeyValue(),
		semconv.HostName(r.host),
		vocab.DeployDryRun.Bool(r.c.dryRun),
		vocab.DeployForce.Bool(r.c.force),
	))
	span.SetAttributes(scopeAttributes(string(r.mode.name), r.c.Scope)...)
	out, err := fn(ctx)
	r.endRunSpan(span, out, err)
	if r.exporting && out.outcome == vocab.OutcomeAnnotated && out.line != "" {
		out.line += " trace " + span.SpanContext().TraceID().String()
	}
	return out, err
}

// endRunSpan puts what the mode did on the run span, and ends it.
func (r *runner) endRunSpan(span trace.Span, out outcome, err error) {
	if out.entry != nil {
		span.SetAttributes(annotator.DeployAttributes(out.entry, r.c.RepositoryURL)...)
	}
	if out.id != "" {
		span.SetAttributes(vocab.AxiomAnnotationID.String(out.id))
	}
	if out.outcome == "" {
		out.outcome = vocab.OutcomeError
	}
	span.SetAttributes(out.outcome.KeyValue())
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if out.err != nil {
		span.SetStatus(codes.Error, out.err.Error())
	}
	span.End()
}

// withAnnotator runs f, with an annotator on the state directory when the
// mode keeps state there: read only in a dry run, which sends nothing.
func (r *runner) withAnnotator(ctx context.Context, f modeFunc) (outcome, error) {
	if !r.mode.state {
		return f(r, ctx, nil)
	}
	defer r.closureDiffs().Close()
	if r.c.dryRun {
		return f(r, ctx, annotator.New(outbox.OpenReadOnly(r.c.StateDir, r.log), r.options(false)))
	}
	ob, err := outbox.Open(r.c.StateDir, r.log)
	if err != nil {
		return outcome{}, err
	}
	defer ob.Close()
	return f(r, ctx, annotator.New(ob, r.options(r.mode.token == tokenToSend)))
}

// closureDiffs diffs closures with the snapshots in the state directory,
// which a dry run reads but never writes.
func (r *runner) closureDiffs() *nixinfo.Closures {
	if r.closures == nil {
		r.closures = &nixinfo.Closures{
			Snapshots: snapshot.Open(filepath.Join(r.c.StateDir, "snapshots")),
			ReadOnly:  r.c.dryRun,
			Log:       r.log,
		}
	}
	return r.closures
}

// options are the annotator's; a target only where something is sent.
func (r *runner) options(send bool) annotator.Options {
	closures := r.closureDiffs()
	opts := annotator.Options{
		Settings:     r.c.settings(),
		SpoolLimit:   r.c.SpoolLimit,
		NoAnnotation: !r.c.Annotate,
		Tracer:       r.tracer,
		Log:          r.log,
		ShowTraceID:  r.exporting,
		Diff:         closures.Diff,
		Retain:       closures.Retain,
		Health:       health.NixOS{CurrentSystem: r.c.CurrentSystem},
	}
	if send {
		opts.Target, opts.NoTarget = r.target()
		opts.Retry = target.Retry{Retries: 2}
	}
	return opts
}

// discover finds what runs now, compared with the newest deploy recorded.
func (r *runner) discover(ctx context.Context, a *annotator.Annotator) (*nixinfo.Generation, error) {
	previous, err := a.Previous()
	if err != nil {
		return nil, err
	}
	g, err := a.Discover(ctx, nixinfo.Options{
		Scope:         nixinfo.Scope(r.c.Scope),
		Revision:      r.c.Revision,
		CommitTime:    r.c.CommitTime.t,
		CurrentSystem: r.c.CurrentSystem,
		Profile:       r.c.Profile,
		Hostname:      r.host,
		Previous:      previous,
		Log:           r.log,
	})
	if err != nil {
		return nil, fail(exitNotNix, err)
	}
	return g, nil
}
