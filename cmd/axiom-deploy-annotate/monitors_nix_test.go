package main

import (
	"maps"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard/monitor"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
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

// TestFlushCarriesRunningNix deploys a host twice as the NixOS module does
// (record, then flush), then lets its flush timer run three times more:
// every flush run says what the host runs (the deploy, its time, its
// revision), as the deploy's own delivery said it, so the silent and
// left-behind monitors see the host from its flushes alone; and the
// dashboard's deploy queries still count the deploy once.
func TestFlushCarriesRunningNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: revA, Salt: "running"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revB, Salt: "running"},
	)
	var flushes []fakeotlp.Span
	flush := func() {
		before := len(h.otlp.Spans())
		h.mustRun("flush")
		for _, s := range h.otlp.Spans()[before:] {
			if s.Name == "run" && s.Attr("deploy.mode") == "flush" {
				flushes = append(flushes, s)
			}
		}
	}
	for _, sys := range p {
		h.m.Switch(sys)
		h.mustRun("record")
		flush()
	}
	for range 3 {
		flush()
	}
	if len(flushes) != 5 {
		t.Fatalf("%d flush runs, want 5", len(flushes))
	}
	var deploy fakeotlp.Span
	for _, s := range h.otlp.Spans() {
		if s.Name == "deliver" && s.Attr("nix.store_path") == p[1] {
			deploy = s
		}
	}
	if deploy.Attr("deployment.id") == "" {
		t.Fatal("no delivery of the second deploy")
	}
	for i, s := range flushes[1:] {
		for _, k := range []string{"deployment.id", "deployment.name", "deploy.time", "nix.store_path", "nix.generation", "vcs.ref.head.revision", "nix.rollback", "nix.scope"} {
			if s.Attr(k) != deploy.Attr(k) || s.Attr(k) == "" {
				t.Errorf("flush %d: %s %q, the deploy's delivery says %q", i+2, k, s.Attr(k), deploy.Attr(k))
			}
		}
	}
	if got := flushes[0].Attr("vcs.ref.head.revision"); got != revA {
		t.Errorf("the flush after the first deploy carries revision %q, want %q", got, revA)
	}

	// The monitors, from the flushes alone: silent reads system flushes;
	// left behind reads the latest span with a deployment, a store path,
	// a revision and the deploy's time.
	for i, s := range flushes {
		if s.Attr("nix.scope") != "system" || s.ResourceAttr("host.name") != "web1" || s.Attr("deployment.id") == "" || s.Attr("nix.store_path") == "" {
			t.Errorf("flush %d: scope %q, host %q, deployment %q, store path %q", i+1, s.Attr("nix.scope"), s.ResourceAttr("host.name"), s.Attr("deployment.id"), s.Attr("nix.store_path"))
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Attr("deploy.time")); err != nil {
			t.Errorf("flush %d: deploy.time %q", i+1, s.Attr("deploy.time"))
		}
	}

	// The deploys query's rows: of every span naming the second deploy,
	// only its record and its delivery speak of it; the four flushes that
	// carry it are left out.
	own, carrying := map[string]int{}, 0
	for _, s := range h.otlp.Spans() {
		if s.Attr("deployment.id") != deploy.Attr("deployment.id") || s.Attr("nix.store_path") == "" {
			continue
		}
		if dashboard.CarriesRunning(s.Name, vocab.Mode(s.Attr("deploy.mode")), vocab.Outcome(s.Attr("deploy.outcome")), s.Attr("deploy.spooled") != "") {
			carrying++
			continue
		}
		own[s.Name+" "+s.Attr("deploy.mode")+" "+s.Attr("deploy.outcome")]++
	}
	if want := map[string]int{"run record recorded": 1, "deliver  annotated": 1}; !maps.Equal(own, want) || carrying != 4 {
		t.Errorf("spans of the deploy's own %v, want %v; %d carrying it, want 4", own, want, carrying)
	}
}
