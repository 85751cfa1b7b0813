package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// TestDashboardFieldsNix runs the command as hosts and a fleet run it (a
// manual annotate, a record and its delivery, a user's Home Manager
// generations, a rollout), collects the
// resource and span attributes it really exports, and checks that every
// field the dashboard's and fleet's queries read is one of them, in the
// place Axiom puts it: semantic conventions 1.37 under attributes. or
// resource., ours under attributes.custom; that each query binds on the
// dataset these runs make; and that what they export is what
// telemetry/vocab declares, no more and no less.
func TestDashboardFieldsNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: revA, Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "fields"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revB, Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}, Salt: "fields"},
		nixtest.System{Host: "web1", Label: "24.05.3", Revision: revB, Salt: "fields"},
	)
	failed := h.failingUnits()
	h.m.Switch(p[0])
	h.mustRun("--environment", "production")
	// A unit failed before the deploy, and one the deploy failed.
	h.m.Switch(p[1])
	setFailed(t, failed, "old.service before")
	h.mustRun("record", "--environment", "production")
	setFailed(t, failed, "old.service before", "nginx.service")
	h.mustRun("flush", "--environment", "production")
	h.m.Switch(p[2])
	h.m.Rollback()
	h.mustRun("--environment", "production")
	// Forward again, annotated at once: the run carries what changed, and
	// the unit still failed from before.
	// The flake's commit time, as the module passes it: lead time.
	commit := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	h.m.Switch(p[2])
	setFailed(t, failed, "old.service before")
	h.mustRun("--environment", "production", "--commit-time", commit)
	// Nothing failed, back on the first: the streak of failed and
	// degraded deploys ends, with a time to restore.
	h.m.Switch(p[0])
	setFailed(t, failed)
	h.mustRun("--environment", "production")
	// A user's Home Manager generations on the host, recorded and
	// delivered as the module does.
	u := h.homeManager()
	hp := nixtest.BuildHome(t,
		nixtest.Home{Label: "25.11", Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "fields"},
		nixtest.Home{Label: "25.11", Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}, Salt: "fields"},
	)
	u.switchTo(hp[0], "--environment", "production", "--revision", revA)
	u.switchTo(hp[1], "--environment", "production", "--revision", revB)

	seen := filepath.Join(t.TempDir(), "traceparent")
	r := h.run("rollout", "--revision", revB, "--commit-time", commit, "--", "sh", "-c", `printf %s "$TRACEPARENT" > `+seen+`; exit 3`)
	if r.code != 3 {
		t.Fatalf("rollout exit %d, want the command's 3\n%s", r.code, r.stderr)
	}

	// What the runs exported is what telemetry/vocab declares.
	checkVocabulary(t, h.otlp.Spans(), map[string]string{
		"run deploy.failed_units":        "a run that records and delivers at once carries it as the delivery does; the delivery here is a flush's",
		"deliver axiom.annotation.found": "a delivery says so only when it finds its annotation in Axiom, after a run stopped while sending it",
		"resource host.id":               "only where the machine id is readable",
		"resource os.version":            "only where os-release gives VERSION_ID",
	})

	// A key the vocabulary reserves, which no run sets yet, may be read
	// where Axiom will keep it; once the vocabulary names its spans, these
	// runs must carry it.
	res, span := h.otlp.Keys()
	carried := dashboard.Carry(res, append(span, axiomcols.Reserved()...))
	req, err := dashboard.Build(dashboard.Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	queries := req.Queries()
	queries["fleet"] = dashboard.FleetQuery("deploy-traces")
	for id, apl := range queries {
		for _, problem := range carried.Check(apl) {
			t.Errorf("chart %s: %s", id, problem)
		}
	}
	// And each binds, as Axiom binds it, on the dataset these runs made.
	an := kusto.Start(t)
	cols := axiomcols.Of(h.otlp.ResourceSpans())
	for id, apl := range queries {
		if errs := an.Bind(apl, "deploy-traces", cols); len(errs) > 0 {
			t.Errorf("chart %s does not bind: %s", id, strings.Join(errs, "; "))
		}
	}

	// The resource speaks semantic conventions 1.37 and describes the host.
	var rollout fakeotlp.Span
	for _, s := range h.otlp.Spans() {
		if s.SchemaURL != "https://opentelemetry.io/schemas/1.37.0" {
			t.Errorf("span %s with schema %q", s.Name, s.SchemaURL)
		}
		for _, k := range []string{"host.arch", "os.type", "os.name", "service.version"} {
			if s.ResourceAttr(k) == "" {
				t.Errorf("span %s: resource lacks %s", s.Name, k)
			}
		}
		if got := s.ResourceAttr("deployment.environment.name"); got != "production" && s.Name != "rollout" && s.Name == "run" {
			t.Errorf("run span: deployment.environment.name %q", got)
		}
		if s.Name == "rollout" {
			rollout = s
		}
	}

	// The rollout's command saw the rollout span's context.
	tp, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(tp), "-")
	if len(parts) != 4 || rollout.TraceID == "" || parts[1] != rollout.TraceID || parts[2] != rollout.SpanID {
		t.Errorf("the command saw TRACEPARENT %q; the rollout span is %s/%s", tp, rollout.TraceID, rollout.SpanID)
	}
	if rollout.Attr("process.exit.code") != "3" || rollout.Attr("deploy.result") != "failed" || rollout.Attr("vcs.ref.head.revision") != revB {
		t.Errorf("rollout span: exit %q, result %q, revision %q", rollout.Attr("process.exit.code"), rollout.Attr("deploy.result"), rollout.Attr("vcs.ref.head.revision"))
	}
	anns := h.axiom.Annotations()
	last := anns[len(anns)-1]
	if !strings.HasPrefix(last.Title, "rollout 89abcde: sh failed (exit 3)") || last.EndTime.Before(last.Time) {
		t.Errorf("rollout annotation %q from %s to %s", last.Title, last.Time, last.EndTime)
	}
}
