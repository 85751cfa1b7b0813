package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/envcar"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/mask"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// rollout runs a fleet's deploy command as a child, in a trace of its own
// that the child joins through TRACEPARENT, then annotates the whole run
// as one range. The child's output passes through untouched, and its exit
// status is the command's: annotating never delays or fails it, and comes
// after it, within --timeout, which starts again when the command ends.
func (r *runner) rollout() (int, error) {
	ctx, span := r.tracer.Start(telemetry.FromEnvironment(context.Background()), vocab.SpanRollout, trace.WithSpanKind(trace.SpanKindInternal))
	span.SetAttributes(
		vocab.ModeRollout.KeyValue(),
		vocab.DeployCommand.String(strings.Join(mask.Args(r.args), " ")),
	)
	vars := map[string]string{"TRACEPARENT": "", "TRACESTATE": ""}
	propagation.TraceContext{}.Inject(ctx, &envcar.Carrier{SetEnvFunc: func(k, v string) { vars[strings.ToUpper(k)] = v }})

	res, err := runChild(context.Background(), r.args, childEnv(os.Environ(), vars), r.stdin, r.stdout, r.stderr)
	status := res.ShellStatus()
	var se *startError
	if errors.As(err, &se) {
		sayError(r.stderr, err)
		res.Start, res.End = time.Now(), time.Now()
		res.ExitCode = status
	} else if err != nil {
		r.log.Warn("the deploy command's output was not all passed on", "err", err)
	}

	// From here on the run is bounded by --timeout.
	r.budget = newBudget(r.budget.total, time.Now())
	dctx, cancel := context.WithDeadline(ctx, r.budget.work())
	defer cancel()
	ro := render.Rollout{Command: r.args, Start: res.Start, End: res.End, ExitCode: res.ExitCode, Signal: res.SignalName()}
	var wd string
	ro.Revision, ro.Dirty, wd = r.revision(dctx)
	ro.CommitTime = r.commitTime(dctx, wd, ro.Revision)
	if _, ok := annotator.LeadTime(ro.Start, ro.CommitTime, false); !ok && ro.CommitTime != nil {
		r.log.Debug("no lead time: the revision's commit time is after the rollout's start (clock skew?)", "commit_time", ro.CommitTime.Format(time.RFC3339))
	}
	if r.exporting {
		ro.TraceID = span.SpanContext().TraceID().String()
	}
	ann := ro.Annotation(r.c.settings())
	span.SetAttributes(annotator.RolloutAttributes(ro, r.c.RepositoryURL)...)
	span.SetAttributes(semconv.DeploymentName(ann.Title), semconv.ProcessExitCode(status))
	if ro.Failed() {
		span.SetStatus(codes.Error, "the deploy command failed: "+res.describe())
	}
	defer span.End(trace.WithTimestamp(res.End))
	r.annotateRollout(ctx, dctx, span, &ann)
	return status, nil
}

// revision is the revision rolled out: --revision, else HEAD of the git
// work tree the command runs in; and that directory.
func (r *runner) revision(ctx context.Context) (rev string, dirty bool, wd string) {
	wd, _ = os.Getwd()
	if r.c.Revision != "" {
		return r.c.Revision, false, wd
	}
	rev, dirty, err := nixinfo.GitRevision(ctx, wd)
	switch {
	case errors.Is(err, nixinfo.ErrNoRevision):
		r.log.Info("no revision: not in a git work tree, and no --revision")
	case err != nil:
		r.log.Warn("revision unknown", "err", err)
	}
	return rev, dirty, wd
}

// commitTime is when the revision rolled out was committed: --commit-time,
// else the committer time git gives for it in wd; nil when unknown.
func (r *runner) commitTime(ctx context.Context, wd, rev string) *time.Time {
	if r.c.CommitTime.t != nil || rev == "" {
		return r.c.CommitTime.t
	}
	t, err := nixinfo.GitCommitTime(ctx, wd, rev)
	if err != nil {
		r.log.Debug("commit time unknown: no lead time", "revision", rev, "err", err)
		return nil
	}
	return &t
}

// annotateRollout records the rollout's annotation and delivers the spool
// within dctx; what goes wrong is a warning, and what is not delivered
// stays spooled. It puts what became of it on the rollout's span.
func (r *runner) annotateRollout(ctx, dctx context.Context, span trace.Span, ann *annotation.Annotation) {
	ob, err := outbox.Open(r.c.StateDir, r.log)
	if err != nil {
		r.log.Warn("rollout not annotated", "err", err)
		return
	}
	defer ob.Close()
	opts := r.options(true)
	opts.NoAnnotation = false
	a := annotator.New(ob, opts)
	e, err := a.RecordRollout(ctx, ann)
	if err != nil {
		r.log.Warn("rollout not annotated", "err", err)
		return
	}
	span.SetAttributes(semconv.DeploymentID(e.DeploymentID()))
	res, err := a.Deliver(dctx, true)
	for _, d := range res.Delivered {
		if d.Entry.ID == e.ID {
			r.log.Info("rollout annotated", "title", ann.Title, "id", d.ID)
			span.SetAttributes(vocab.OutcomeAnnotated.KeyValue(), vocab.AxiomAnnotationID.String(d.ID))
			return
		}
	}
	r.log.Warn("rollout annotation not delivered; it stays spooled for the next run", "title", ann.Title, "err", errors.Join(err, res.Err))
	span.SetAttributes(vocab.OutcomeSpooled.KeyValue())
}
