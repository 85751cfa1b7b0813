package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/envcar"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// rollout runs a fleet's deploy command as a child, in a trace of its own
// that the child joins through TRACEPARENT, then annotates the whole run
// as one range. The child's output passes through untouched, and its exit
// status is the command's: annotating never delays or fails it, and comes
// after it, within --timeout.
func (r *runner) rollout(ctx context.Context, stdin io.Reader, stderr io.Writer) (outcome, int, error) {
	ctx, span := r.tracer.Start(ctx, vocab.SpanRollout, trace.WithSpanKind(trace.SpanKindInternal))
	masked := annotator.MaskArgs(r.args)
	span.SetAttributes(
		vocab.ModeRollout.KeyValue(),
		vocab.DeployCommand.String(strings.Join(masked, " ")),
	)
	vars := map[string]string{"TRACEPARENT": "", "TRACESTATE": ""}
	propagation.TraceContext{}.Inject(ctx, &envcar.Carrier{SetEnvFunc: func(k, v string) { vars[strings.ToUpper(k)] = v }})

	res, err := runChild(context.Background(), r.args, childEnv(os.Environ(), vars), stdin, r.stdout, stderr)
	status := res.ShellStatus()
	var se *startError
	if errors.As(err, &se) {
		sayError(stderr, err)
		res.Start, res.End = time.Now(), time.Now()
		res.ExitCode = status
	} else if err != nil {
		r.log.Warn("the deploy command's output was not all passed on", "err", err)
	}

	// From here on the run is bounded by --timeout.
	dctx, cancel := context.WithTimeout(ctx, time.Duration(r.c.Timeout)-exportReserve(time.Duration(r.c.Timeout)))
	defer cancel()
	rev, dirty := r.c.Revision, false
	if rev == "" {
		wd, _ := os.Getwd()
		var gerr error
		rev, dirty, gerr = nixinfo.GitRevision(dctx, wd)
		switch {
		case errors.Is(gerr, nixinfo.ErrNoRevision):
			r.log.Info("no revision: not in a git work tree, and no --revision")
		case gerr != nil:
			r.log.Warn("revision unknown", "err", gerr)
		}
	}
	ro := annotator.Rollout{Command: r.args, Start: res.Start, End: res.End, ExitCode: res.ExitCode, Signal: res.SignalName(), Revision: rev, Dirty: dirty}
	if r.exporting {
		ro.TraceID = span.SpanContext().TraceID().String()
	}
	req := annotator.BuildRollout(ro, r.c.settings())
	span.SetAttributes(annotator.RolloutAttributes(ro, r.c.RepositoryURL)...)
	span.SetAttributes(semconv.DeploymentName(req.Title), semconv.ProcessExitCode(status))
	if ro.Failed() {
		span.SetStatus(codes.Error, "the deploy command failed: "+res.describe())
	}
	defer span.End(trace.WithTimestamp(res.End))

	store, err := annotator.OpenStore(r.c.StateDir, r.log)
	if err != nil {
		r.log.Warn("rollout not annotated", "err", err)
		return outcome{outcome: vocab.OutcomeError}, status, nil
	}
	opts := r.options(true)
	opts.NoAnnotation = false
	a := annotator.New(store, opts)
	e, err := a.RecordRollout(ctx, req)
	if err != nil {
		r.log.Warn("rollout not annotated", "err", err)
		return outcome{outcome: vocab.OutcomeError}, status, nil
	}
	span.SetAttributes(semconv.DeploymentID(e.DeploymentID()))
	out := outcome{outcome: vocab.OutcomeSpooled, entry: e}
	fres, derr := a.Deliver(dctx, true)
	for _, d := range fres.Delivered {
		if d.Entry.ID == e.ID {
			out.outcome, out.id = vocab.OutcomeAnnotated, d.ID
			r.log.Info("rollout annotated", "title", req.Title, "id", d.ID)
		}
	}
	if out.outcome != vocab.OutcomeAnnotated {
		r.log.Warn("rollout annotation not delivered; it stays spooled for the next run", "title", req.Title, "err", errors.Join(derr, fres.Err))
		out.err = fres.Err
	}
	span.SetAttributes(out.outcome.KeyValue())
	if out.id != "" {
		span.SetAttributes(vocab.AxiomAnnotationID.String(out.id))
	}
	return out, status, nil
}
