package annotator

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// DeployAttributes are the span attributes that describe a recorded deploy:
// one row of the dashboard, with no join needed.
func DeployAttributes(e *Entry, repositoryURL string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.DeploymentID(e.DeploymentID()),
		semconv.DeploymentName(e.Name()),
		attribute.String("deploy.time", e.Time.Format(time.RFC3339Nano)),
	}
	if e.Rollout {
		return append(attrs, attribute.String("axiom.annotation.title", e.Request.Title))
	}
	attrs = append(attrs, attribute.String("nix.store_path", e.StorePath))
	if e.Generation != nil {
		attrs = append(attrs, attribute.Int("nix.generation", *e.Generation))
	}
	if g := e.Deploy; g != nil {
		attrs = append(attrs, generationAttributes(g, repositoryURL)...)
	}
	attrs = append(attrs, changeAttributes(e.Changes)...)
	if e.Request != nil {
		attrs = append(attrs, attribute.String("axiom.annotation.title", e.Request.Title))
	}
	return attrs
}

// generationAttributes describe what discovery found.
func generationAttributes(g *nixinfo.Generation, repositoryURL string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.HostName(g.Hostname),
		attribute.String("nix.store_path", g.StorePath),
		attribute.String("nix.platform", string(g.Platform)),
		attribute.String("nix.label", g.Label),
		attribute.String("nix.previous_store_path", g.Previous),
		attribute.Bool("nix.rollback", g.Rollback),
		attribute.Bool("nix.test_activation", g.Number == nil),
		attribute.Bool("deploy.dirty", g.Dirty),
	}
	if g.Number != nil {
		attrs = append(attrs, attribute.Int("nix.generation", *g.Number))
	}
	if g.Revision != "" {
		attrs = append(attrs, semconv.VCSRefHeadRevision(g.Revision))
	}
	if repositoryURL != "" {
		if u, err := repositoryBase(repositoryURL); err == nil {
			attrs = append(attrs, semconv.VCSRepositoryURLFull(u.String()))
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
		span.AddEvent("package.change", trace.WithAttributes(
			attribute.String("package.name", c.Name),
			attribute.StringSlice("package.before", c.Before),
			attribute.StringSlice("package.after", c.After),
			attribute.String("package.change", c.Kind().String()),
		))
	}
	e := Entry{Changes: countChanges(d)}
	span.SetAttributes(changeAttributes(e.Changes)...)
	span.SetAttributes(attribute.Int("nix.changes.events_dropped", max(0, len(d.Changes)-maxChangeEvents)))
}

func changeAttributes(c *ChangeCounts) []attribute.KeyValue {
	if c == nil || !c.Known {
		return nil
	}
	attrs := []attribute.KeyValue{
		attribute.Int("nix.changes.count", c.Total),
		attribute.Int("nix.changes.upgrades", c.Upgrades),
		attribute.Int("nix.changes.downgrades", c.Downgrades),
		attribute.Int("nix.changes.added", c.Added),
		attribute.Int("nix.changes.removed", c.Removed),
	}
	if c.SizeBefore > 0 && c.SizeAfter > 0 {
		attrs = append(attrs,
			attribute.Int64("nix.closure.size_before", c.SizeBefore),
			attribute.Int64("nix.closure.size_after", c.SizeAfter),
		)
	}
	return attrs
}

// RolloutAttributes describe a rollout on its span: the revision and
// whether the tree was dirty, the repository, and how the command ended.
func RolloutAttributes(r Rollout, repositoryURL string) []attribute.KeyValue {
	rev, dirty := strings.CutSuffix(r.Revision, "-dirty")
	result := "succeeded"
	if r.Failed() {
		result = "failed"
	}
	attrs := []attribute.KeyValue{
		attribute.String("deploy.result", result),
		attribute.Bool("deploy.dirty", dirty || r.Dirty),
	}
	if rev != "" {
		attrs = append(attrs, semconv.VCSRefHeadRevision(rev))
	}
	if u, err := repositoryBase(repositoryURL); repositoryURL != "" && err == nil {
		attrs = append(attrs, semconv.VCSRepositoryURLFull(u.String()))
	}
	return attrs
}
