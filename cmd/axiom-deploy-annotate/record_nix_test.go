package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// spooledFiles lists what the state directory's spool (or trace spool)
// holds.
func spooledFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		name := de.Name()
		if !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".pb")) {
			out = append(out, name)
		}
	}
	return out
}

// TestRecordThenDeliverNix: what a NixOS switch runs. record, with Axiom
// hanging, sends nothing and exports nothing, and two switches give two
// entries; the delivery afterwards sends both, each with its own time and
// what changed, and its spans continue each record's trace, whose spans it
// sends too.
func TestRecordThenDeliverNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: revA, Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "record"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revB, Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}, Salt: "record"},
	)
	h.axiom.Fail(fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true})
	var times []time.Time
	for i, sys := range p {
		h.m.Switch(sys)
		times = append(times, time.Now())
		r := h.mustRun("record")
		want := []string{`recorded "web1 gen 1"`, `recorded "web1 gen 2"`}[i]
		if strings.TrimSpace(r.stdout) != want {
			t.Errorf("record %d: stdout %q, want %q", i+1, r.stdout, want)
		}
		if r.elapsed > time.Second {
			t.Errorf("record %d took %s with Axiom hanging", i+1, r.elapsed)
		}
	}
	if n := len(h.axiom.Requests()); n != 0 {
		t.Fatalf("record sent %d requests", n)
	}
	if n := len(h.otlp.Spans()); n != 0 {
		t.Fatalf("record exported %d spans", n)
	}
	if got := spooledFiles(t, filepath.Join(h.state, "spool")); len(got) != 2 {
		t.Fatalf("spool holds %v, want two entries", got)
	}
	if got := spooledFiles(t, filepath.Join(h.state, "traces")); len(got) != 2 {
		t.Fatalf("trace spool holds %v, want the two records' spans", got)
	}

	// A record of the system recorded last changes nothing.
	if r := h.mustRun("record"); !strings.HasPrefix(r.stdout, `spooled, not yet delivered: "web1 gen 2"`) {
		t.Errorf("record again: %q", r.stdout)
	}

	// Axiom answers again (a new fake: the old one's hangs were never
	// taken): the delivery sends both.
	h.axiom = fakeaxiom.New(nixToken)
	t.Cleanup(h.axiom.Close)
	r := h.mustRun("flush")
	if strings.TrimSpace(r.stdout) != "delivered 2, 0 still spooled" {
		t.Fatalf("flush: %q\n%s", r.stdout, r.stderr)
	}
	anns := h.axiom.Annotations()
	if len(anns) != 2 {
		t.Fatalf("%d annotations, want 2", len(anns))
	}
	for i, a := range anns {
		if d := a.Time.Sub(times[i]); d < -time.Second || d > time.Second {
			t.Errorf("annotation %d (%s) at %s, want its deploy's time %s", i, a.Title, a.Time, times[i])
		}
	}
	if !strings.Contains(anns[1].Description, "hello 2.12→2.13") || anns[1].Title != "web1 gen 2 (89abcde)" {
		t.Errorf("second annotation: %q\n%s", anns[1].Title, anns[1].Description)
	}

	// One trace per deploy: the record run, its discovery, and the delivery.
	spans := h.otlp.Spans()
	runs := map[string]fakeotlp.Span{}
	for _, s := range spans {
		if s.Name == "run" && s.Attr("deploy.mode") == "record" && s.Attr("deploy.outcome") == "recorded" {
			runs[s.TraceID] = s
		}
	}
	if len(runs) != 2 {
		t.Fatalf("%d record runs among the spans, want 2: %v", len(runs), spanNames(spans))
	}
	delivered := 0
	for _, s := range spans {
		if s.Name != "deliver" {
			continue
		}
		run, ok := runs[s.TraceID]
		if !ok || s.ParentID != run.SpanID {
			t.Errorf("deliver span in trace %s under %s, not under its record run", s.TraceID, s.ParentID)
			continue
		}
		if s.Attr("deployment.id") != run.Attr("deployment.id") || s.Attr("deployment.id") == "" {
			t.Errorf("deployment.id %q at delivery, %q at record", s.Attr("deployment.id"), run.Attr("deployment.id"))
		}
		if s.Attr("deploy.outcome") != "annotated" || !strings.HasPrefix(s.Attr("axiom.annotation.id"), "ann_") {
			t.Errorf("deliver outcome %q, id %q", s.Attr("deploy.outcome"), s.Attr("axiom.annotation.id"))
		}
		delivered++
	}
	if delivered != 2 {
		t.Errorf("%d deliver spans, want 2", delivered)
	}
	if got := spooledFiles(t, filepath.Join(h.state, "traces")); len(got) != 0 {
		t.Errorf("trace spool still holds %v", got)
	}
}

// TestRecordTraceparentNix: a TRACEPARENT given to the record run parents
// both the record and, through the spool, the delivery.
func TestRecordTraceparentNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05", Revision: revA, Salt: "record-traceparent"})
	h.m.Switch(p[0])
	h.env = []string{"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	h.mustRun("record")
	h.env = nil
	h.mustRun("flush")
	var names []string
	for _, s := range h.otlp.Spans() {
		if s.Name == "run" && s.Attr("deploy.mode") == "flush" {
			continue // the flush run's own trace
		}
		if s.Name == "run" || s.Name == "deliver" || s.Name == "discover" {
			names = append(names, s.Name)
			if s.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("%s in trace %s, not the deploy tool's", s.Name, s.TraceID)
			}
		}
	}
	if len(names) != 3 {
		t.Errorf("spans in the deploy tool's trace: %v, want run, discover, deliver", names)
	}
}

// TestNoAnnotationNix: with annotations off, a host run still records and
// traces its deploy, and sends no annotation.
func TestNoAnnotationNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05", Revision: revA, Salt: "no-annotation"})
	h.m.Switch(p[0])
	r := h.mustRun("--annotate=false")
	if !strings.HasPrefix(r.stdout, `recorded "web1 gen 1" (annotations are off)`) {
		t.Errorf("stdout %q", r.stdout)
	}
	if n := len(h.axiom.Requests()); n != 0 {
		t.Errorf("%d requests to Axiom", n)
	}
	var run fakeotlp.Span
	for _, s := range h.otlp.Spans() {
		if s.Name == "run" {
			run = s
		}
	}
	if run.Attr("deploy.outcome") != "recorded" || run.Attr("nix.generation") != "1" || run.Attr("deployment.id") == "" {
		t.Errorf("run span: outcome %q, generation %q, deployment.id %q", run.Attr("deploy.outcome"), run.Attr("nix.generation"), run.Attr("deployment.id"))
	}
	if r := h.mustRun("--annotate=false"); !strings.HasPrefix(r.stdout, `already recorded, not annotated (annotations were off): "web1 gen 1`) {
		t.Errorf("second run: %q", r.stdout)
	}
}

func spanNames(spans []fakeotlp.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
