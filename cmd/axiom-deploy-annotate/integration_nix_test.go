package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once for the tests that run it as a process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "axiom-deploy-annotate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "axiom-deploy-annotate")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-test", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// host is a machine with real generations, a fake Axiom, an OTLP receiver
// and the command's state, all in temporary directories.
type host struct {
	t      *testing.T
	m      *nixtest.Machine
	axiom  *fakeaxiom.Server
	otlp   *fakeotlp.Receiver
	state  string
	token  string
	env    []string
	output []string // every stdout and stderr, to scan for the token
}

const nixToken = "xaat-nix-integration-5ecr3t"

func newHost(t *testing.T) *host {
	nixtest.Require(t)
	h := &host{t: t, m: nixtest.NewMachine(t), axiom: fakeaxiom.New(nixToken), otlp: fakeotlp.New(), state: filepath.Join(t.TempDir(), "state"), token: filepath.Join(t.TempDir(), "token")}
	t.Cleanup(h.axiom.Close)
	t.Cleanup(h.otlp.Close)
	if err := os.WriteFile(h.token, []byte(nixToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, o := range h.output {
			if strings.Contains(o, nixToken) {
				t.Errorf("the token leaked into output:\n%s", o)
			}
		}
		for _, a := range h.axiom.Annotations() {
			if b, _ := json.Marshal(a); bytes.Contains(b, []byte(nixToken)) {
				t.Errorf("the token leaked into an annotation: %s", b)
			}
		}
		for _, s := range h.otlp.Spans() {
			for k, v := range s.Attrs {
				if strings.Contains(v.String(), nixToken) {
					t.Errorf("the token leaked into span %s attribute %s", s.Name, k)
				}
			}
		}
	})
	return h
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (h *host) run(args ...string) result {
	h.t.Helper()
	base := []string{
		"--profile", h.m.Profile(),
		"--current-system", h.m.CurrentSystem(),
		"--hostname", "web1",
		"--state-dir", h.state,
		"--token-file", h.token,
		"--api-endpoint", h.axiom.Endpoint(),
		"--traces-endpoint", h.otlp.Endpoint(),
		"--traces-dataset", "deploy-traces",
		"--repository-url", "https://github.com/me/dots",
		"--timeout", "10s",
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		base = append([]string{args[0]}, base...)
		args = args[1:]
	}
	cmd := exec.Command(binary(h.t), append(base, args...)...)
	cmd.Env = append(os.Environ(), "AXIOM_TOKEN=", "OTEL_SDK_DISABLED=", "TRACEPARENT=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_HEADERS=")
	cmd.Env = append(cmd.Env, h.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("run %s: exit %d in %s", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond))
	h.output = append(h.output, r.stdout, r.stderr)
	return r
}

func (h *host) mustRun(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

const (
	revA = "0123456789abcdef0123456789abcdef01234567"
	revB = "89abcdef0123456789abcdef0123456789abcdef"
)

func TestAnnotateGenerationsNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: revA, Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: revB + "-dirty", Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}},
		nixtest.System{Host: "web1", Label: "24.05.3", NoVersionInfo: true},
	)

	// First deploy: generation 1.
	h.m.Switch(p[0])
	before := time.Now()
	r := h.mustRun()
	if !strings.HasPrefix(r.stdout, `annotated "web1 gen 1 (0123456)" as ann_000001 trace `) {
		t.Errorf("stdout = %q", r.stdout)
	}
	anns := h.axiom.Annotations()
	if len(anns) != 1 {
		t.Fatalf("%d annotations, want 1", len(anns))
	}
	a := anns[0]
	if a.Title != "web1 gen 1 (0123456)" || a.Type != "nix-deploy" || strings.Join(a.Datasets, ",") != "deployments" ||
		a.URL != "https://github.com/me/dots/commit/"+revA {
		t.Errorf("annotation = %+v", a)
	}
	if a.Time.Before(before.Add(-time.Second)) || a.Time.After(time.Now()) {
		t.Errorf("annotation time %s is not the deploy's (%s)", a.Time, before)
	}
	for _, want := range []string{"Commit: " + revA, "System: " + p[0], "first deploy", "Trace: "} {
		if !strings.Contains(a.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, a.Description)
		}
	}
	for _, req := range h.axiom.Requests() {
		if req.Authorization != "Bearer "+nixToken {
			t.Errorf("%s %s with Authorization %q", req.Method, req.Path, req.Authorization)
		}
	}

	// The trace: run → discover, run → deliver → Annotations.Create → HTTP POST.
	spans := h.otlp.Spans()
	byName := map[string]fakeotlp.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	run, disc, del, create := byName["run"], byName["discover"], byName["deliver"], byName["Annotations.Create"]
	var post fakeotlp.Span
	for _, s := range spans {
		if s.ParentID == create.SpanID && create.SpanID != "" {
			post = s
		}
	}
	if run.SpanID == "" || disc.ParentID != run.SpanID || del.ParentID != run.SpanID || create.ParentID != del.SpanID || post.SpanID == "" {
		t.Fatalf("span tree wrong: %+v", spans)
	}
	for _, s := range spans {
		if s.TraceID != run.TraceID {
			t.Errorf("span %s in trace %s, not the run's %s", s.Name, s.TraceID, run.TraceID)
		}
	}
	if run.ParentID != "" {
		t.Errorf("run has parent %s without TRACEPARENT", run.ParentID)
	}
	if !strings.Contains(a.Description, "Trace: "+run.TraceID) || !strings.HasSuffix(strings.TrimSpace(r.stdout), run.TraceID) {
		t.Errorf("the run's trace id %s is not in the description or stdout", run.TraceID)
	}
	for k, want := range map[string]string{"service.name": "axiom-deploy-annotation", "service.version": "1.2.3-test", "host.name": "web1"} {
		if got := run.ResourceAttr(k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"nix.generation": "1", "nix.store_path": p[0], "vcs.ref.head.revision": revA, "vcs.repository.url.full": "https://github.com/me/dots"} {
		if got := disc.Attr(k); got != want {
			t.Errorf("discover %s = %q, want %q", k, got, want)
		}
	}
	if got := del.Attr("axiom.annotation.id"); got != "ann_000001" {
		t.Errorf("deliver axiom.annotation.id = %q", got)
	}
	if got := run.Attr("deploy.outcome"); got != "annotated" {
		t.Errorf("run deploy.outcome = %q", got)
	}
	for _, hd := range h.otlp.Headers() {
		if hd.Get("X-Axiom-Dataset") != "deploy-traces" || hd.Get("Authorization") != "Bearer "+nixToken {
			t.Errorf("export headers: dataset %q, authorization set: %v", hd.Get("X-Axiom-Dataset"), hd.Get("Authorization") != "")
		}
	}

	// A re-run sends nothing.
	r = h.mustRun()
	if !strings.HasPrefix(r.stdout, "already annotated: web1 gen 1 (0123456) as ann_000001") {
		t.Errorf("re-run stdout = %q", r.stdout)
	}

	// The dry run shows generation 2 without sending or recording it.
	h.m.Switch(p[1])
	r = h.mustRun("--dry-run")
	var dry struct {
		Annotation map[string]any  `json:"annotation"`
		Generation map[string]any  `json:"generation"`
		Changes    json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("dry run output: %v\n%s", err, r.stdout)
	}
	if dry.Annotation["title"] != "web1 gen 2 (89abcde-dirty)" || dry.Generation["number"] != 2.0 || dry.Generation["dirty"] != true ||
		dry.Generation["revision"] != revB || dry.Generation["previous"] != p[0] {
		t.Errorf("dry run: %s", r.stdout)
	}
	if len(h.axiom.Annotations()) != 1 {
		t.Errorf("the dry run sent an annotation")
	}
	if want := `[{"name":"hello","before":["2.12"],"after":["2.13"]},{"name":"nixos-system-web1","before":["24.05.1"],"after":["24.05.2"]}]`; compactJSON(t, dry.Changes) != want {
		t.Errorf("dry run changes = %s, want %s", dry.Changes, want)
	}
	if d, _ := dry.Annotation["description"].(string); !strings.Contains(d, "hello 2.12→2.13") {
		t.Errorf("dry run description lacks the change: %q", d)
	}

	// Generation 2, then a test activation, then a rollback.
	r = h.mustRun()
	if !strings.Contains(r.stdout, `annotated "web1 gen 2 (89abcde-dirty)"`) {
		t.Errorf("gen 2: %q", r.stdout)
	}
	// What changed is worked out at delivery: counts on the deliver span,
	// one event per package on its "diff" child.
	var events []string
	var diffSeen, counted bool
	for _, s := range h.otlp.Spans() {
		if s.Name == "diff" && s.Attr("nix.store_path") == p[1] {
			diffSeen = true
			for _, e := range s.Events {
				events = append(events, e.Name)
			}
		}
		if s.Name == "deliver" && s.Attr("nix.generation") == "2" {
			counted = s.Attr("nix.changes.count") == "2" && s.Attr("nix.changes.upgrades") == "2"
			if !counted {
				t.Errorf("deliver change counts: %s, %s upgrades", s.Attr("nix.changes.count"), s.Attr("nix.changes.upgrades"))
			}
		}
	}
	if !diffSeen || !counted || strings.Join(events, ",") != "package.change,package.change" {
		t.Errorf("diff span seen %v, deliver counted %v, events = %v", diffSeen, counted, events)
	}
	h.m.Activate(p[2])
	r = h.mustRun()
	if !strings.Contains(r.stdout, `annotated "web1 test" as`) {
		t.Errorf("test activation: %q\n%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "revision unknown") {
		t.Errorf("no warning about the unknown revision: %s", r.stderr)
	}
	h.m.Switch(p[2])
	h.m.Rollback()
	r = h.mustRun()
	if !strings.Contains(r.stdout, `annotated "web1 rollback to gen 2 (89abcde-dirty)"`) {
		t.Errorf("rollback: %q", r.stdout)
	}
	anns = h.axiom.Annotations()
	if len(anns) != 4 {
		t.Fatalf("%d annotations after four deploys", len(anns))
	}
	if !strings.Contains(anns[3].Description, "Previous: "+p[2]) {
		t.Errorf("rollback description: %s", anns[3].Description)
	}
}

// A dead trace endpoint costs a bounded wait at exit; the annotation goes
// out regardless.
func TestDeadTraceEndpointNix(t *testing.T) {
	h := newHost(t)
	h.otlp.Hang = true
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05", Revision: revA, Salt: "dead-otlp"})
	h.m.Switch(p[0])
	r := h.mustRun("--timeout", "5s")
	if len(h.axiom.Annotations()) != 1 {
		t.Errorf("annotation not sent with a dead trace endpoint")
	}
	if r.elapsed > 6*time.Second {
		t.Errorf("run took %s with --timeout 5s", r.elapsed)
	}
	if !strings.Contains(r.stderr, "traces not exported") {
		t.Errorf("no warning about the trace export: %s", r.stderr)
	}
}

// TRACEPARENT puts the run under a deploy tool's trace.
func TestTraceparentNix(t *testing.T) {
	h := newHost(t)
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05", Revision: revA, Salt: "traceparent"})
	h.m.Switch(p[0])
	h.env = []string{"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	h.mustRun()
	var run fakeotlp.Span
	for _, s := range h.otlp.Spans() {
		if s.Name == "run" {
			run = s
		}
	}
	if run.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || run.ParentID != "00f067aa0ba902b7" {
		t.Errorf("run span trace %s parent %s", run.TraceID, run.ParentID)
	}
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
