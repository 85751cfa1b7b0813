// Package health says how a deployed system is doing, as its service
// manager tells: the units a switch left failed. switch-to-configuration
// reports a failed deploy (exit 4) while any unit is in the failed state,
// so those are the units that made a deploy fail; a unit failed before the
// deploy and still failed is the system's trouble, not the new
// generation's.
package health

import (
	"slices"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Status is how a deploy ended, as deploy.health says it.
type Status = vocab.Health

// The statuses.
const (
	// Healthy: no unit failed once the switch's jobs were done.
	Healthy = vocab.HealthHealthy
	// Failed: units failed that were not failed before the deploy.
	Failed = vocab.HealthFailed
	// Degraded: the only failed units were failed before the deploy too.
	Degraded = vocab.HealthDegraded
	// Unknown: systemd could not be asked (no bus, a sandbox, not NixOS),
	// or the deploy was judged too late (another system runs now).
	Unknown = vocab.HealthUnknown
)

// MaxUnits bounds the units a report names; Report.More counts the rest.
const MaxUnits = 16

// Before is what failed before the deploy, as the run that recorded it
// found: Known is false when systemd could not be asked.
type Before struct {
	Known bool     `json:"known"`
	Units []string `json:"units,omitempty"`
}

// Report is a deploy judged.
type Report struct {
	Status Status `json:"status"`
	// Failed are the units failed now and not before (all the units failed
	// now when what failed before is unknown), sorted.
	Failed []string `json:"failed,omitempty"`
	// AlreadyFailed are the units failed before the deploy and still.
	AlreadyFailed []string `json:"alreadyFailed,omitempty"`
	// More counts the units left out of the two lists past MaxUnits.
	More int `json:"more,omitempty"`
	// Reason says why the status is unknown.
	Reason string `json:"reason,omitempty"`
}

// Unknowable is the report of a deploy systemd could not be asked about.
func Unknowable(reason string) *Report {
	return &Report{Status: Unknown, Reason: reason}
}

// Judge splits the units failed now into those the deploy failed and those
// failed before it.
func Judge(before Before, now []string) *Report {
	r := &Report{Status: Healthy}
	for _, u := range sortedUnique(now) {
		if before.Known && slices.Contains(before.Units, u) {
			r.AlreadyFailed = append(r.AlreadyFailed, u)
		} else {
			r.Failed = append(r.Failed, u)
		}
	}
	switch {
	case len(r.Failed) > 0:
		r.Status = Failed
	case len(r.AlreadyFailed) > 0:
		r.Status = Degraded
	}
	r.Failed, r.More = bound(r.Failed, MaxUnits)
	var more int
	r.AlreadyFailed, more = bound(r.AlreadyFailed, MaxUnits-len(r.Failed))
	r.More += more
	return r
}

// DeploymentStatus is the semantic conventions' deployment.status:
// "failed" when the deploy failed units, "succeeded" when it failed none
// (degraded included), "" when unknown.
func (r *Report) DeploymentStatus() string {
	switch r.Status {
	case Failed:
		return "failed"
	case Healthy, Degraded:
		return "succeeded"
	}
	return ""
}

// Units is the failed units, those the deploy failed first, as one line.
func (r *Report) Units() string {
	all := append(slices.Clone(r.Failed), r.AlreadyFailed...)
	s := strings.Join(all, ", ")
	if r.More > 0 {
		s += ", …"
	}
	return s
}

func sortedUnique(units []string) []string {
	u := slices.Clone(units)
	slices.Sort(u)
	return slices.Compact(u)
}

func bound(units []string, n int) ([]string, int) {
	n = max(n, 0)
	if len(units) <= n {
		return units, 0
	}
	return units[:n], len(units) - n
}
