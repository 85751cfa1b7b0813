package render

import (
	"fmt"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
)

// healthTitle is what the title says after the deploy's name: " failed:
// nginx.service", " degraded: …"; nothing when healthy or unknown.
func healthTitle(r *health.Report) string {
	switch {
	case r == nil:
		return ""
	case r.Status == health.Failed:
		return " failed: " + text.Line(r.Units())
	case r.Status == health.Degraded:
		return " degraded: " + text.Line(r.Units())
	}
	return ""
}

// healthDescription is the description's lines on the failed units; none
// when healthy or unknown (the spans say which).
func healthDescription(r *health.Report) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	if len(r.Failed) > 0 {
		fmt.Fprintf(&b, "Failed units: %s\n", text.Line(strings.Join(r.Failed, ", ")))
	}
	if len(r.AlreadyFailed) > 0 {
		fmt.Fprintf(&b, "Failed before the deploy, still failed: %s\n", text.Line(strings.Join(r.AlreadyFailed, ", ")))
	}
	if r.More > 0 {
		fmt.Fprintf(&b, "and %d more failed units\n", r.More)
	}
	return b.String()
}
