// Package monitor makes the Axiom monitors that alert on a fleet's
// deploys, from the traces that cmd/axiom-deploy-annotate exports: a
// deploy that failed or rolled back, deploys stuck in a host's spool, a
// host gone silent, a host left behind. Apply creates them through Axiom's
// /v2/monitors and keeps them current, finding them again by a line each
// one's description carries.
package monitor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
)

// Defaults a small fleet would choose.
const (
	// DefaultSpooledAfter is how long every flush of a host may leave
	// deploys undelivered before it alerts.
	DefaultSpooledAfter = time.Hour
	// DefaultSilentAfter is how long a host's flush runs may be missing
	// before it alerts: 24 runs of the flush timer's default 15 minutes,
	// longer than a reboot or a short outage.
	DefaultSilentAfter = 6 * time.Hour
	// DefaultBehindAfter is how long a host may run another revision than
	// the fleet's newest deploy before it alerts.
	DefaultBehindAfter = 24 * time.Hour
)

// hostsRange is how far back the silent and left-behind monitors read the
// fleet: twice their chosen time. Every flush run says what its host runs
// (the deploy, its time, its revision), so a host's latest flush is all
// either needs, however old its deploy; a host not heard of for longer is
// taken as retired.
func hostsRange(after time.Duration) time.Duration { return 2 * after }

// Options say which monitors to make.
type Options struct {
	// Dataset is the OpenTelemetry traces dataset the runs' spans go to.
	Dataset string
	// Notifiers are the ids of the Axiom notifiers that are told; none
	// leaves the monitors to show in Axiom only.
	Notifiers []string
	// SpooledAfter, SilentAfter and BehindAfter are the times above; zero
	// takes the default.
	SpooledAfter, SilentAfter, BehindAfter time.Duration
}

// Definition is one monitor as this package makes it.
type Definition struct {
	// Key names the monitor among this package's, for good: it is how a
	// monitor is found again in Axiom.
	Key     string
	Monitor axiom.Monitor
}

// Body is the request body Axiom's API is sent for d.
func (d Definition) Body() ([]byte, error) {
	return d.Monitor.MarshalJSON()
}

// Build makes the monitors for o.Dataset, each description ending in the
// line that marks it as made here.
func Build(o Options) ([]Definition, error) {
	if err := dashboard.CheckDataset(o.Dataset); err != nil {
		return nil, err
	}
	o.SpooledAfter = cmp.Or(o.SpooledAfter, DefaultSpooledAfter)
	o.SilentAfter = cmp.Or(o.SilentAfter, DefaultSilentAfter)
	o.BehindAfter = cmp.Or(o.BehindAfter, DefaultBehindAfter)
	for _, d := range []struct {
		flag string
		d    time.Duration
	}{{"--spooled-after", o.SpooledAfter}, {"--silent-after", o.SilentAfter}, {"--behind-after", o.BehindAfter}} {
		if d.d < time.Minute || d.d%time.Minute != 0 {
			return nil, fmt.Errorf("%s %s: want whole minutes, at least 1m", d.flag, d.d)
		}
	}
	notifiers := slices.Clone(o.Notifiers)
	slices.Sort(notifiers)
	notifiers = slices.Compact(notifiers)
	if notifiers == nil {
		notifiers = []string{}
	}
	defs := definitions(o)
	for i := range defs {
		m := &defs[i].Monitor
		m.NotifierIDs = notifiers
		m.TriggerFromNRuns = 1
		if m.Type == axiom.MonitorTypeMatchEvent {
			// Axiom ignores the comparison of a MatchEvent monitor, but
			// its schema wants an operator.
			m.Operator, m.Threshold = axiom.Above, 0
		}
		defs[i].seal(o.Dataset)
	}
	return defs, nil
}

// seal ends d's description with the line that marks it as made here, for
// dataset, with the fingerprint of what it is now.
func (d *Definition) seal(dataset string) {
	m := &d.Monitor
	text := strings.TrimSpace(markPattern.ReplaceAllString(m.Description, ""))
	m.Description = text + "\n\n" + mark(d.Key, dataset, fingerprint(*m))
}

// definitions are the monitors, without their notifiers and marks.
func definitions(o Options) []Definition {
	silentRange, behindRange := hostsRange(o.SilentAfter), hostsRange(o.BehindAfter)
	return []Definition{
		{"deploy-problem", axiom.Monitor{
			Name: "NixOS deploy failed or rolled back",
			Description: "A host's deploy failed, left systemd units failed, or rolled back to an older generation; " +
				"one notification per deploy, naming the host, generation, revision and failed units. " +
				"On the host: systemctl --failed and journalctl -b -p err show what failed; for a rollback, ask whether it was meant.",
			Type:     axiom.MonitorTypeMatchEvent,
			APLQuery: deployProblemQuery(o.Dataset),
			Interval: 5 * time.Minute, Range: 5 * time.Minute,
			// Spans reach Axiom when their run ends: look that far back.
			Delay: 2 * time.Minute,
		}},
		{"delivery-stuck", axiom.Monitor{
			Name: "NixOS deploys stuck in a host's spool",
			Description: fmt.Sprintf("Every flush of this host for %s left deploys undelivered, or failed: its annotations wait in its spool. "+
				"On the host: axiom-deploy-annotate flush --dry-run lists them with the last error (token, network, an annotation Axiom refuses); "+
				"fix that and run axiom-deploy-annotate flush, or drop ID an annotation Axiom keeps refusing.", span(o.SpooledAfter)),
			Type:     axiom.MonitorTypeThreshold,
			APLQuery: stuckQuery(o.Dataset),
			Operator: axiom.Above, Threshold: 0, NotifyByGroup: true,
			Interval: 15 * time.Minute, Range: o.SpooledAfter,
		}},
		{"host-silent", axiom.Monitor{
			Name: "NixOS host silent",
			Description: fmt.Sprintf("No flush run of this host has reached Axiom for more than %s (its timer runs every 15 minutes unless set otherwise): "+
				"the host is down or offline, its flush timer stopped, or its token no longer works. "+
				"On the host: systemctl status axiom-deploy-annotation-flush.timer and journalctl -u axiom-deploy-annotation-flush "+
				"(nix-darwin: the daemon org.nixos.axiom-deploy-annotation-flush; Home Manager: the user's unit or agent of that name). "+
				"A host silent for more than %s drops out, taken as retired.", span(o.SilentAfter), span(silentRange)),
			Type:     axiom.MonitorTypeThreshold,
			APLQuery: silentQuery(o.Dataset),
			Operator: axiom.Above, Threshold: o.SilentAfter.Minutes(), NotifyByGroup: true,
			Interval: 15 * time.Minute, Range: silentRange,
		}},
		{"host-behind", axiom.Monitor{
			Name: "NixOS host left behind",
			Description: fmt.Sprintf("This host runs another revision than the fleet's newest deploy, made more than %s ago: "+
				"a deploy skipped it or failed on it. Deploy the newest revision to it, or raise --behind-after if it is meant to lag.", span(o.BehindAfter)),
			Type:     axiom.MonitorTypeThreshold,
			APLQuery: behindQuery(o.Dataset),
			Operator: axiom.Above, Threshold: o.BehindAfter.Minutes(), NotifyByGroup: true,
			Interval: 60 * time.Minute, Range: behindRange,
		}},
	}
}

// span is a duration as people say it: 1h, 6h, 1d12h, 45m.
func span(d time.Duration) string {
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	s := ""
	if days > 0 {
		s = fmt.Sprintf("%dd", days)
	}
	if h := rest / time.Hour; h > 0 {
		s += fmt.Sprintf("%dh", h)
	}
	if m := rest % time.Hour / time.Minute; m > 0 {
		s += fmt.Sprintf("%dm", m)
	}
	return s
}
