package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// dashboardRequest is the dashboard as this version makes it.
func (r *runner) dashboardRequest() (dashboard.Request, error) {
	req, err := dashboard.Build(dashboard.Options{
		Dataset: r.c.TracesDataset,
		UID:     r.c.DashboardUID,
		Message: "axiom-deploy-annotate " + versionString(),
	})
	if err != nil {
		return dashboard.Request{}, fail(exitUsage, err)
	}
	return req, nil
}

// dashboardBody is dashboard --dry-run: it prints the request body and
// sends nothing.
func (r *runner) dashboardBody(context.Context, *annotator.Annotator) (outcome, error) {
	req, err := r.dashboardRequest()
	if err != nil {
		return outcome{}, err
	}
	b, err := req.JSON()
	if err != nil {
		return outcome{}, err
	}
	_, err = fmt.Fprintf(r.stdout, "%s\n", b)
	return outcome{outcome: vocab.OutcomeDryRun}, err
}

// dashboard creates or updates the deploy dashboard.
func (r *runner) dashboard(ctx context.Context, _ *annotator.Annotator) (outcome, error) {
	req, err := r.dashboardRequest()
	if err != nil {
		return outcome{}, err
	}
	client, err := r.axiomClient()
	if err != nil {
		return outcome{}, err
	}
	res, err := dashboard.Apply(ctx, client, req, r.c.force)
	if err != nil {
		return outcome{}, fail(exitAxiom, err)
	}
	line := fmt.Sprintf("dashboard %s %s, version %d", res.UID, res.Status, res.Version)
	if res.Overwritten {
		line += " (edits made in Axiom overwritten)"
	}
	return outcome{outcome: vocab.Outcome(res.Status), line: line}, nil
}

// fleet prints what each host runs, from the traces dataset.
func (r *runner) fleet(ctx context.Context, _ *annotator.Annotator) (outcome, error) {
	client, err := r.axiomClient()
	if err != nil {
		return outcome{}, err
	}
	f, err := dashboard.QueryFleet(ctx, client, r.c.TracesDataset, time.Duration(r.c.since), time.Now())
	if err != nil {
		return outcome{}, fail(exitAxiom, err)
	}
	if r.c.jsonOut {
		err = f.JSON(r.stdout)
	} else {
		err = f.Render(r.stdout, colourful(r.stdout))
	}
	if err != nil {
		return outcome{}, err
	}
	// What is printed is not the fleet: say so, and fail.
	if err := f.Incomplete(); err != nil {
		return outcome{outcome: vocab.OutcomeFleet}, fail(exitAxiom, err)
	}
	return outcome{outcome: vocab.OutcomeFleet}, nil
}

// colourful says whether w is a terminal that may be coloured.
func colourful(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
