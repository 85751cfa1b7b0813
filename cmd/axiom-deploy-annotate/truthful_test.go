package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// fakeSystem makes a NixOS system in dir, labelled label, and returns its
// path.
func fakeSystem(t *testing.T, dir, label string) string {
	t.Helper()
	sys := filepath.Join(dir, label)
	if err := os.MkdirAll(filepath.Join(sys, "sw", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "nixos-version"), []byte(label+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho '{\"nixosVersion\":\"" + label + "\"}'\n"
	if err := os.WriteFile(filepath.Join(sys, "sw", "bin", "nixos-version"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return sys
}

// switchTo points the link current at sys.
func switchTo(t *testing.T, current, sys string) {
	t.Helper()
	os.Remove(current)
	if err := os.Symlink(sys, current); err != nil {
		t.Fatal(err)
	}
}

// signalWriter collects what is written and closes seen once it holds
// want.
type signalWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.seen != nil && strings.Contains(w.b.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestAnnotateWaitsWhileAnotherDelivers: an annotate run that records its
// deploy, then waits for a run already delivering, which delivers that
// deploy too, says that it was annotated, as what, and by another run (its
// span too), not that it stays spooled.
func TestAnnotateWaitsWhileAnotherDelivers(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	recv := fakeotlp.New()
	defer recv.Close()
	dir := t.TempDir()
	state, current := filepath.Join(dir, "state"), filepath.Join(dir, "current")
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(mode string, more ...string) []string {
		return append([]string{mode, "--state-dir", state, "--current-system", current, "--profile", filepath.Join(dir, "none"),
			"--hostname", "h", "--api-endpoint", fake.Endpoint(), "--token-file", token, "--traces-endpoint=", "--timeout", "20s"}, more...)
	}

	// A deploy recorded, whose delivery by a flush is held at Axiom.
	switchTo(t, current, fakeSystem(t, dir, "first"))
	var out, errs bytes.Buffer
	if code := run(args("record"), &out, &errs); code != exitOK {
		t.Fatalf("record: %d %s", code, errs.String())
	}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	fake.Fail(fakeaxiom.Fault{Method: http.MethodPost, Until: release, Arrived: arrived})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var out, errs bytes.Buffer
		if code := run(args("flush"), &out, &errs); code != exitOK {
			t.Errorf("flush: %d %s", code, errs.String())
		}
	}()
	<-arrived

	// The next deploy's annotate records it, then waits for the flush.
	switchTo(t, current, fakeSystem(t, dir, "second"))
	stdout := &signalWriter{}
	stderr := &signalWriter{want: "another run holds the state directory, waiting for it", seen: make(chan struct{})}
	waiting := stderr.seen
	done := make(chan int)
	go func() {
		done <- run(args("annotate", "--traces-endpoint", recv.Endpoint()), stdout, stderr)
	}()
	<-waiting
	close(release)
	wg.Wait()
	if code := <-done; code != exitOK {
		t.Fatalf("annotate: %d %s", code, stderr.String())
	}

	anns := fake.Annotations()
	if len(anns) != 2 {
		t.Fatalf("Axiom holds %d annotations, want the two deploys", len(anns))
	}
	want := `annotated "h test" as ` + anns[1].ID + " by another run trace "
	if got := stdout.String(); !strings.HasPrefix(got, want) {
		t.Errorf("annotate says %q, want %q…", got, want)
	}
	runs := 0
	for _, s := range recv.Spans() {
		if s.Name != "run" {
			continue
		}
		runs++
		if s.Attr("deploy.outcome") != "annotated" || s.Attr("axiom.annotation.id") != anns[1].ID || s.Attr("nix.store_path") == "" {
			t.Errorf("run span: outcome %q, annotation %q, store path %q", s.Attr("deploy.outcome"), s.Attr("axiom.annotation.id"), s.Attr("nix.store_path"))
		}
	}
	if runs != 1 {
		t.Errorf("%d run spans exported, want the annotate run's", runs)
	}
}
