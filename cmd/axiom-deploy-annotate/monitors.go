package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard/monitor"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// monitorDefinitions are the monitors as this version makes them.
func (r *runner) monitorDefinitions() ([]monitor.Definition, error) {
	defs, err := monitor.Build(monitor.Options{
		Dataset:      r.c.TracesDataset,
		Notifiers:    r.c.notifiers,
		SpooledAfter: time.Duration(r.c.spooledAfter),
		SilentAfter:  time.Duration(r.c.silentAfter),
		BehindAfter:  time.Duration(r.c.behindAfter),
	})
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	return defs, nil
}

// monitorBodies is monitors --dry-run: it prints their bodies and sends
// nothing.
func (r *runner) monitorBodies(context.Context, *annotator.Annotator) (outcome, error) {
	defs, err := r.monitorDefinitions()
	if err != nil {
		return outcome{}, err
	}
	bodies := make([]json.RawMessage, len(defs))
	for i, d := range defs {
		if bodies[i], err = d.Body(); err != nil {
			return outcome{}, err
		}
	}
	return outcome{outcome: vocab.OutcomeDryRun}, r.printJSON(bodies)
}

// monitors creates or updates the deploy monitors, one line each on
// stdout.
func (r *runner) monitors(ctx context.Context, _ *annotator.Annotator) (outcome, error) {
	defs, err := r.monitorDefinitions()
	if err != nil {
		return outcome{}, err
	}
	if len(r.c.notifiers) == 0 {
		r.log.Info("no --notifier: the monitors alert in Axiom's Monitors tab only; name a notifier to be told")
	}
	client, err := r.axiomClient()
	if err != nil {
		return outcome{}, err
	}
	if err := monitor.CheckNotifiers(ctx, client, r.c.notifiers); err != nil {
		return outcome{}, fail(exitAxiom, err)
	}
	results, err := monitor.Apply(ctx, client, r.c.TracesDataset, defs, r.c.force)
	for _, res := range results {
		fmt.Fprintln(r.stdout, monitorLine(res))
	}
	if err != nil {
		return outcome{}, fail(exitAxiom, err)
	}
	return outcome{outcome: vocab.OutcomeMonitors}, nil
}

// monitorLine says what became of one monitor.
func monitorLine(res monitor.Result) string {
	line := fmt.Sprintf("monitor %q %s: %s", res.Name, res.Status, res.ID)
	switch {
	case res.Overwritten:
		line += " (edits made in Axiom overwritten)"
	case res.Status == monitor.Kept && res.Stale:
		line += " (edited in Axiom; this version would change it: --force overwrites)"
	case res.Status == monitor.Kept:
		line += " (edited in Axiom)"
	case res.Status == monitor.Duplicate:
		line += " (a second copy of one made here, left alone: delete it in Axiom)"
	case res.Status == monitor.Obsolete:
		line += " (made by an earlier version, no longer made: left alone, delete it in Axiom if unwanted)"
	}
	return line
}
