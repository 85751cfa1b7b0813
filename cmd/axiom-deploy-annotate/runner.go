package main

import (
	"context"
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/health"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

type runner struct {
	c      config
	mode   string
	args   []string
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	log    *slog.Logger
	// deadline ends the run; a rollout's starts when its command ends.
	deadline time.Time
	// status is the exit status a rollout takes from its command.
	status int
	// tokenRead, tokenValue and tokenErr keep the token once read.
	tokenRead  bool
	tokenValue string
	tokenErr   error
	tracer     trace.Tracer
	host       string
	// exporting says whether the run's spans leave the process.
	exporting bool
	// delivering is the annotator of a run that delivered the spool, which
	// settles before it ends; settled says it has.
	delivering *annotator.Annotator
	settled    bool
}

// exportReserve is the part of the deadline kept for exporting the trace.
func exportReserve(total time.Duration) time.Duration {
	return min(total/5, 5*time.Second)
}

// outcome is what a mode did: the run span's deploy.outcome, the line for
// stdout (shown as text.Line makes it: it may name an id from Axiom or a
// title from the state), and the delivery error that leaves it spooled.
type outcome struct {
	outcome vocab.Outcome
	line    string
	err     error
	entry   *annotator.Entry
	id      string
	// delivered and pending count what a flush delivered and left.
	delivered, pending int
}

func (r *runner) run() error {
	c := r.c
	timeout := time.Duration(c.Timeout)
	r.deadline = time.Now().Add(timeout)
	r.host = c.Hostname
	if r.host == "" {
		h, err := nixinfo.ShortHostname()
		if err != nil {
			return fail(exitInternal, err)
		}
		r.host = h
	}

	// A record must not wait on the network, nor a dry run send anything:
	// neither exports its spans.
	// A dry run sends nothing; a record, which a switch waits for, writes
	// its spans to the state directory for the delivery to send.
	tracesEndpoint := c.TracesEndpoint
	if c.dryRun || r.mode == "drop" || r.mode == "dashboard" || r.mode == "fleet" || r.mode == "monitors" {
		tracesEndpoint = ""
	}
	tracesToken := ""
	if tracesEndpoint != "" && r.mode != "record" {
		tracesToken, _ = r.token()
		if c.TracesTokenFile != "" {
			t, err := readToken(c.TracesTokenFile, r.deadline, r.log.Warn)
			if err != nil {
				r.log.Warn("traces token unusable", "err", err)
			}
			tracesToken = t
		}
	}
	setupCtx, cancelSetup := context.WithDeadline(context.Background(), r.deadline)
	tel, err := telemetry.Setup(setupCtx, telemetry.Config{
		Endpoint:    tracesEndpoint,
		Dataset:     c.TracesDataset,
		Token:       tracesToken,
		OrgID:       c.OrgID,
		Version:     versionString(),
		Host:        r.host,
		Environment: c.Environment,
		Timeout:     exportReserve(timeout),
		StateDir:    c.StateDir,
		Defer:       r.mode == "record",
	}, r.log)
	cancelSetup()
	if err != nil {
		return fail(exitInternal, err)
	}
	r.exporting = tel.Exporting
	defer func() {
		ctx, cancel := r.exportContext(timeout)
		defer cancel()
		if err := r.endTraces(ctx, tel); err != nil {
			r.log.Warn("traces not exported", "err", err)
		}
	}()

	r.tracer = tel.Tracer()
	if r.mode == "rollout" {
		_, status, err := r.rollout(telemetry.FromEnvironment(context.Background()), r.stdin, r.stderr)
		r.status = status
		r.deadline = time.Now().Add(timeout)
		return err
	}
	ctx, cancel := context.WithDeadline(context.Background(), r.deadline.Add(-exportReserve(timeout)))
	defer cancel()
	ctx = telemetry.FromEnvironment(ctx)
	out, err := r.traced(ctx, r.dispatch)
	if err == nil && r.delivering != nil {
		out = r.settle(ctx, tel, timeout, out)
	}
	if err == nil && out.line != "" {
		fmt.Fprintln(r.stdout, text.Line(out.line))
	}
	return err
}

// exportContext bounds an export: the reserve, never past the run's
// deadline.
func (r *runner) exportContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(exportReserve(timeout))
	if end.After(r.deadline) {
		end = r.deadline
	}
	return context.WithDeadline(context.Background(), end)
}

// traced runs fn under the root span "run", and says in the span what it
// did.
func (r *runner) traced(ctx context.Context, fn func(context.Context) (outcome, error)) (outcome, error) {
	ctx, span := r.tracer.Start(ctx, vocab.SpanRun, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		vocab.Mode(r.mode).KeyValue(),
		semconv.HostName(r.host),
		vocab.DeployDryRun.Bool(r.c.dryRun),
		vocab.DeployForce.Bool(r.c.force),
	))
	defer span.End()
	span.SetAttributes(scopeAttributes(r.mode, r.c.Scope)...)
	out, err := fn(ctx)
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
	if r.exporting && out.outcome == vocab.OutcomeAnnotated && out.line != "" {
		out.line += " trace " + span.SpanContext().TraceID().String()
	}
	return out, err
}

func (r *runner) dispatch(ctx context.Context) (outcome, error) {
	switch r.mode {
	case "dashboard":
		return r.dashboard(ctx)
	case "fleet":
		return r.fleet(ctx)
	case "monitors":
		return r.monitors(ctx)
	}
	if r.c.dryRun {
		return r.dryRun(ctx)
	}
	store, err := annotator.OpenStore(r.c.StateDir, r.log)
	if err != nil {
		return outcome{}, err
	}
	defer store.Close()
	a := annotator.New(store, r.options(r.mode != "record" && r.mode != "drop"))
	switch r.mode {
	case "record":
		return r.record(ctx, a)
	case "flush":
		r.delivering = a
		return r.deliverSpool(ctx, a, false)
	case "drop":
		return r.drop(ctx, a)
	}
	return r.annotate(ctx, a)
}

// options are the annotator's; a sender only where something is sent.
// Closures are diffed with the snapshots in the state directory, which a
// dry run reads but never writes.
func (r *runner) options(send bool) annotator.Options {
	closures := &nixinfo.Closures{
		Snapshots: snapshot.Open(filepath.Join(r.c.StateDir, "snapshots")),
		ReadOnly:  r.c.dryRun,
		Log:       r.log,
	}
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
		token, tokenErr := r.token()
		s, err := annotator.NewSender(annotator.SenderConfig{
			Endpoint:       r.c.APIEndpoint,
			Token:          token,
			TokenErr:       tokenErr,
			OrgID:          r.c.OrgID,
			Transport:      otelhttp.NewTransport(http.DefaultTransport),
			Retries:        2,
			AttemptTimeout: attemptTimeout(time.Duration(r.c.Timeout)),
			Tracer:         r.tracer,
		}, r.log)
		if err != nil {
			r.log.Warn("nothing sent", "err", err)
		}
		opts.Sender = s
	}
	return opts
}

// attemptTimeout bounds one request, so that a hung connection leaves time
// for two more attempts on fresh ones.
func attemptTimeout(total time.Duration) time.Duration {
	return max(total/4, time.Second)
}

// token finds the Axiom token: a chosen token file, else AXIOM_TOKEN, else
// the default token file.
func (r *runner) token() (string, error) {
	if !r.tokenRead {
		r.tokenValue, r.tokenErr = r.readToken()
		r.tokenRead = true
	}
	return r.tokenValue, r.tokenErr
}

func (r *runner) readToken() (string, error) {
	if !r.c.tokenFileSet {
		if t := strings.TrimSpace(os.Getenv("AXIOM_TOKEN")); t != "" {
			return t, annotator.CheckToken(t)
		}
	}
	return readToken(r.c.TokenFile, r.deadline, r.log.Warn)
}

func (r *runner) discover(ctx context.Context, a *annotator.Annotator, previous string) (*nixinfo.Generation, error) {
	g, err := a.Discover(ctx, nixinfo.Options{
		Scope:         nixinfo.Scope(r.c.Scope),
		Revision:      r.c.Revision,
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
