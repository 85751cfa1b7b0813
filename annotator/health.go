package annotator

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Health judges NixOS deploys by their failed units (health.NixOS).
type Health interface {
	// Before is what failed before the switch, told by when each failed
	// unit failed: asked by the run that judges the deploy.
	Before(ctx context.Context) health.Before
	// Judge is how the deploy of a system ended, once the switch's jobs
	// are done: asked by the run that delivers it.
	Judge(ctx context.Context, system string, before health.Before) *health.Report
}

// judge works out, once, how a NixOS deploy ended; a deploy whose health
// cannot be known (no judge, not NixOS) is unknown.
func (a *Annotator) judge(ctx context.Context, e *outbox.Entry) {
	switch {
	case e.Health != nil || e.Discovered == nil:
		return
	case e.Discovered.Platform != nixinfo.NixOS:
		e.Health = health.Unknowable("not NixOS")
	case e.Discovered.Scope == nixinfo.HomeManager:
		// The system's units say nothing of a user's generation.
		e.Health = health.Unknowable("a Home Manager generation")
	case a.opts.Health == nil:
		e.Health = health.Unknowable("systemd not asked")
	default:
		// What failed before the switch is told by the time each failed
		// unit failed, as well now as when it was recorded: the record a
		// switch waits for does not ask. Entries of older versions carry
		// what their record found.
		var before health.Before
		if e.FailedBefore != nil {
			before = *e.FailedBefore
		} else {
			before = a.opts.Health.Before(ctx)
		}
		e.Health = a.opts.Health.Judge(ctx, e.StorePath, before)
		if e.Health.Status == health.Unknown {
			a.log.Debug("deploy health unknown", "err", e.Health.Reason)
		}
	}
}

// healthAttributes are deployment.status (unset when unknown),
// deploy.health and the failed units.
func healthAttributes(r *health.Report) []attribute.KeyValue {
	if r == nil {
		return nil
	}
	attrs := []attribute.KeyValue{vocab.DeployHealth.String(string(r.Status))}
	if s := r.DeploymentStatus(); s != "" {
		attrs = append(attrs, semconv.DeploymentStatusKey.String(s))
	}
	if len(r.Failed) > 0 {
		attrs = append(attrs, vocab.DeployFailedUnits.String(strings.Join(r.Failed, ", ")))
	}
	if len(r.AlreadyFailed) > 0 {
		attrs = append(attrs, vocab.DeployAlreadyFailedUnits.String(strings.Join(r.AlreadyFailed, ", ")))
	}
	return attrs
}
