package annotator

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// DeployAttributes are the span attributes that describe a recorded deploy:
// one row of the dashboard, with no join needed.
func DeployAttributes(e *outbox.Entry, repositoryURL string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.DeploymentID(e.DeploymentID()),
		semconv.DeploymentName(e.Name()),
		vocab.DeployTime.String(e.Time.Format(time.RFC3339Nano)),
	}
	if e.Rollout {
		return append(attrs, vocab.AxiomAnnotationTitle.String(e.Annotation.Title))
	}
	attrs = append(attrs, vocab.NixStorePath.String(e.StorePath))
	if e.Generation != nil {
		attrs = append(attrs, vocab.NixGeneration.Int(*e.Generation))
	}
	if g := e.Discovered; g != nil {
		attrs = append(attrs, generationAttributes(g, repositoryURL)...)
	}
	attrs = append(attrs, changeAttributes(e.Changes)...)
	attrs = append(attrs, healthAttributes(e.Health)...)
	if g := e.Discovered; g != nil {
		attrs = append(attrs, commitAttributes(e.Time, g.CommitTime, g.Rollback)...)
	}
	attrs = append(attrs, restoreAttributes(e)...)
	if e.Annotation != nil {
		attrs = append(attrs, vocab.AxiomAnnotationTitle.String(e.Annotation.Title))
	}
	return attrs
}

// generationAttributes describe what discovery found.
func generationAttributes(g *nixinfo.Generation, repositoryURL string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.HostName(g.Hostname),
		vocab.Scope(g.DeployScope()).KeyValue(),
		vocab.NixStorePath.String(g.StorePath),
		vocab.NixPlatform.String(string(g.Platform)),
		vocab.NixLabel.String(g.Label),
		vocab.NixPreviousStorePath.String(g.Previous),
		vocab.NixRollback.Bool(g.Rollback),
		vocab.NixTestActivation.Bool(g.Number == nil),
		vocab.DeployDirty.Bool(g.Dirty),
	}
	if g.User != "" {
		attrs = append(attrs, semconv.UserName(g.User))
	}
	if g.Number != nil {
		attrs = append(attrs, vocab.NixGeneration.Int(*g.Number))
	}
	if g.Revision != "" {
		attrs = append(attrs, semconv.VCSRefHeadRevision(g.Revision))
	}
	if repositoryURL != "" {
		if u, err := render.RepositoryURL(repositoryURL); err == nil {
			attrs = append(attrs, semconv.VCSRepositoryURLFull(u))
		}
	}
	return attrs
}

// traceParent is ctx's span context as a W3C traceparent, "" without one.
func traceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

func parseTraceParent(tp string) trace.SpanContext {
	if tp == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}

// traceIDOf is the trace id in a traceparent, "" without one.
func traceIDOf(tp string) string {
	if sc := parseTraceParent(tp); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// maxChangeEvents bounds the span events listing package changes, at the
// SDK's default event limit.
const maxChangeEvents = 128

// recordChanges puts the package changes on a span: counts by kind as
// attributes, and one event per change, up to maxChangeEvents.
func recordChanges(span trace.Span, d *nixinfo.Diff) {
	for i, c := range d.Changes {
		if i == maxChangeEvents {
			break
		}
		span.AddEvent(vocab.EventPackageChange, trace.WithAttributes(
			vocab.PackageName.String(c.Name),
			vocab.PackageBefore.StringSlice(c.Before),
			vocab.PackageAfter.StringSlice(c.After),
			vocab.PackageChange.String(c.Kind().String()),
		))
	}
	span.SetAttributes(changeAttributes(outbox.CountChanges(d))...)
	span.SetAttributes(vocab.NixChangesEventsDropped.Int(max(0, len(d.Changes)-maxChangeEvents)))
}

func changeAttributes(c *outbox.ChangeCounts) []attribute.KeyValue {
	if c == nil || !c.Known {
		return nil
	}
	attrs := []attribute.KeyValue{
		vocab.NixChangesCount.Int(c.Total),
		vocab.NixChangesUpgrades.Int(c.Upgrades),
		vocab.NixChangesDowngrades.Int(c.Downgrades),
		vocab.NixChangesAdded.Int(c.Added),
		vocab.NixChangesRemoved.Int(c.Removed),
	}
	if c.SizeBefore > 0 && c.SizeAfter > 0 {
		attrs = append(attrs,
			vocab.NixClosureSizeBefore.Int64(c.SizeBefore),
			vocab.NixClosureSizeAfter.Int64(c.SizeAfter),
		)
	}
	return attrs
}

// RolloutAttributes describe a rollout on its span: the revision and
// whether the tree was dirty, the repository, and how the command ended.
func RolloutAttributes(r render.Rollout, repositoryURL string) []attribute.KeyValue {
	rev, dirty := strings.CutSuffix(r.Revision, "-dirty")
	result := vocab.ResultSucceeded
	if r.Failed() {
		result = vocab.ResultFailed
	}
	attrs := []attribute.KeyValue{
		result.KeyValue(),
		vocab.DeployDirty.Bool(dirty || r.Dirty),
	}
	if rev != "" {
		attrs = append(attrs, semconv.VCSRefHeadRevision(rev))
	}
	if u, err := render.RepositoryURL(repositoryURL); repositoryURL != "" && err == nil {
		attrs = append(attrs, semconv.VCSRepositoryURLFull(u))
	}
	return append(attrs, commitAttributes(r.Start, r.CommitTime, false)...)
}

// RunningAttributes describe, with the keys of DeployAttributes, the deploy
// the host runs now as the state directory knows it (outbox.Running): for
// the span of a run that records no deploy of its own, such as a flush,
// so that every such run says what its host runs. None when the state
// does not know, or cannot be read (then a warning says why).
func (a *Annotator) RunningAttributes() []attribute.KeyValue {
	e, err := a.outbox.Running()
	if err != nil {
		a.log.Warn("the deploy running now is not on the run span", "err", err)
		return nil
	}
	if e == nil {
		return nil
	}
	return DeployAttributes(e, a.opts.Settings.RepositoryURL)
}
