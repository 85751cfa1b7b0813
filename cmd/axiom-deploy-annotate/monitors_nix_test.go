package main

import (
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard/monitor"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// TestMonitorFieldsNix deploys a host four times as the NixOS module does
// (record after each switch, then flush), the last a rollback, and a
// user's Home Manager generation there as its module does, and checks
// that the monitors read what the runs really export, in the place Axiom
// puts it, and that what they count on holds: one delivery settles each
// deploy, the rollback's says so, every flush says how many deploys it left.
func TestMonitorFieldsNix(t *testing.T) {
	h := newHost(t)
	failed := h.failingUnits()
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Salt: "monitors"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revA, Salt: "monitors"},
		nixtest.System{Host: "web1", Label: "24.05.3", Revision: revB, Salt: "monitors"},
	)
	for _, sys := range p {
		h.m.Switch(sys)
		h.mustRun("record")
		h.mustRun("flush")
	}
	h.m.Rollback()
	h.mustRun("record")
	// The rollback leaves a unit failed.
	setFailed(t, failed, "nginx.service")
	h.mustRun("flush")
	// And a user's Home Manager generation there.
	hp := nixtest.BuildHome(t, nixtest.Home{Label: "25.11", Salt: "monitors"})
	h.homeManager().switchTo(hp[0], "--revision", revB)

	carried := dashboard.Carry(h.otlp.Keys())
	defs, err := monitor.Build(monitor.Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		for _, problem := range carried.Check(d.Monitor.APLQuery) {
			t.Errorf("monitor %s: %s", d.Key, problem)
		}
	}

	settled := map[string][]fakeotlp.Span{}
	flushes := 0
	for _, s := range h.otlp.Spans() {
		switch {
		case s.Name == "deliver" && (s.Attr("deploy.outcome") == "annotated" || s.Attr("deploy.outcome") == "recorded"):
			settled[s.Attr("deployment.id")] = append(settled[s.Attr("deployment.id")], s)
		case s.Name == "run" && s.Attr("deploy.mode") == "flush":
			flushes++
			if s.Attr("deploy.spooled") != "0" || s.Attr("deploy.outcome") != "flushed" {
				t.Errorf("flush run: spooled %q, outcome %q", s.Attr("deploy.spooled"), s.Attr("deploy.outcome"))
			}
		}
	}
	if len(settled) != 5 || flushes != 5 {
		t.Fatalf("%d deploys settled, %d flush runs; want 5 and 5", len(settled), flushes)
	}
	rollbacks := 0
	for id, spans := range settled {
		s := spans[0]
		if len(spans) != 1 {
			t.Errorf("deploy %s settled by %d deliveries: the deploy monitor would notify more than once", id, len(spans))
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Attr("deploy.time")); err != nil || s.Attr("nix.store_path") == "" || s.ResourceAttr("host.name") != "web1" {
			t.Errorf("deploy %s: time %q, store path %q, host %q", id, s.Attr("deploy.time"), s.Attr("nix.store_path"), s.ResourceAttr("host.name"))
		}
		if s.Attr("nix.rollback") == "true" {
			rollbacks++
			if s.Attr("nix.generation") != "2" || s.Attr("vcs.ref.head.revision") != revA {
				t.Errorf("the rollback: generation %q, revision %q", s.Attr("nix.generation"), s.Attr("vcs.ref.head.revision"))
			}
		}
	}
	if rollbacks != 1 {
		t.Errorf("%d deploys say they rolled back, want 1", rollbacks)
	}
}
