package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// spansOf are the exported spans named name that carry a deploy of
// system.
func spansOf(spans []fakeotlp.Span, name, system string) []fakeotlp.Span {
	var out []fakeotlp.Span
	for _, s := range spans {
		if s.Name == name && s.Attr("nix.store_path") == system {
			out = append(out, s)
		}
	}
	return out
}

// deployTimeOf is a span's deploy.time.
func deployTimeOf(t *testing.T, s fakeotlp.Span) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s.Attr("deploy.time"))
	if err != nil {
		t.Fatalf("%s span: deploy.time: %v", s.Name, err)
	}
	return at
}

// TestLeadTimeAndRestoreNix: on real generations, as the NixOS module
// runs the command (its settings file holding the flake's
// self.lastModified as commitTime): each deploy's run and deliver spans
// carry the commit time and the lead time from it; a healthy deploy after
// two failed ones carries the time to restore from the first failed; a
// rollback carries no lead time and the time to restore from the deploy
// it undid.
func TestLeadTimeAndRestoreNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: revA, Salt: "restore"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revB, Salt: "restore"},
		nixtest.System{Host: "web1", Label: "24.05.3", Revision: revA, Salt: "restore"},
		nixtest.System{Host: "web1", Label: "24.05.4", Revision: revB, Salt: "restore"},
	)
	failed := h.failingUnits()
	commit := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	config := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(config, []byte(`{"commitTime": `+strconv.FormatInt(commit.Unix(), 10)+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Healthy, annotated at once.
	h.m.Switch(p[0])
	h.mustRun("--config", config)
	// Two deploys the switch left nginx failed: recorded after the switch,
	// judged by the flush.
	for _, sys := range p[1:3] {
		h.m.Switch(sys)
		setFailed(t, failed)
		h.mustRun("record", "--config", config)
		setFailed(t, failed, "nginx.service")
		h.mustRun("flush", "--config", config)
	}
	// Fixed.
	h.m.Switch(p[3])
	setFailed(t, failed)
	h.mustRun("--config", config)
	// Rolled back to the third: healthy now.
	h.m.Rollback()
	h.mustRun("--config", config)

	spans := h.otlp.Spans()
	var delivered []fakeotlp.Span
	for i, sys := range p {
		d := spansOf(spans, "deliver", sys)
		if len(d) == 0 {
			t.Fatalf("no deliver span of deploy %d", i+1)
		}
		delivered = append(delivered, d[0])
	}
	health := []string{"healthy", "failed", "failed", "healthy"}
	for i, s := range delivered {
		if got := s.Attr("deploy.health"); got != health[i] {
			t.Errorf("deploy %d: deploy.health %q, want %q", i+1, got, health[i])
		}
		if got := s.Attr("deploy.commit_time"); got != commit.Format(time.RFC3339) {
			t.Errorf("deploy %d: deploy.commit_time %q, want %s", i+1, got, commit.Format(time.RFC3339))
		}
		lead, ok := s.Attrs["deploy.lead_time"]
		if want := deployTimeOf(t, s).Sub(commit).Seconds(); !ok || lead.GetDoubleValue() != want {
			t.Errorf("deploy %d: deploy.lead_time %v, want %v", i+1, lead, want)
		}
		if v, ok := s.Attrs["deploy.time_to_restore"]; ok != (i == 3) {
			t.Errorf("deploy %d: deploy.time_to_restore %v", i+1, v)
		}
	}
	want := deployTimeOf(t, delivered[3]).Sub(deployTimeOf(t, delivered[1])).Seconds()
	if got := delivered[3].Attrs["deploy.time_to_restore"].GetDoubleValue(); got != want {
		t.Errorf("fixed: deploy.time_to_restore %v, want %v from the first failed deploy", got, want)
	}
	// The run that annotated the fix at once says the same.
	runs := spansOf(spans, "run", p[3])
	if len(runs) != 1 || runs[0].Attrs["deploy.time_to_restore"].GetDoubleValue() != want || runs[0].Attr("deploy.commit_time") != commit.Format(time.RFC3339) {
		t.Errorf("run spans of the fix: %d, the first %v", len(runs), runs)
	}

	var back *fakeotlp.Span
	for _, s := range spansOf(spans, "deliver", p[2]) {
		if s.Attr("nix.rollback") == "true" {
			back = &s
		}
	}
	if back == nil {
		t.Fatal("no deliver span of the rollback")
	}
	if lead, ok := back.Attrs["deploy.lead_time"]; ok {
		t.Errorf("rollback: deploy.lead_time %v, want none", lead)
	}
	if back.Attr("deploy.commit_time") != commit.Format(time.RFC3339) || back.Attr("deploy.health") != "healthy" {
		t.Errorf("rollback: deploy.commit_time %q, deploy.health %q", back.Attr("deploy.commit_time"), back.Attr("deploy.health"))
	}
	want = deployTimeOf(t, *back).Sub(deployTimeOf(t, delivered[3])).Seconds()
	if got, ok := back.Attrs["deploy.time_to_restore"]; !ok || got.GetDoubleValue() != want {
		t.Errorf("rollback: deploy.time_to_restore %v, want %v from the deploy it undid", got, want)
	}
}
