package nixinfo_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// hostileSystem is a NixOS system in a temporary directory whose
// sw/bin/nixos-version is script and whose other files are as files says
// (a value starting with "->" makes a link to what follows).
func hostileSystem(t testing.TB, script string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	sys := filepath.Join(dir, "system")
	if err := os.MkdirAll(filepath.Join(sys, "sw", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "sw", "bin", "nixos-version"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		path := filepath.Join(sys, name)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, path)
		} else {
			err = os.WriteFile(path, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "current")
	if err := os.Symlink(sys, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func discoverWithin(t testing.TB, current string, deadline time.Duration) (*nixinfo.Generation, string, time.Duration) {
	t.Helper()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	g, err := nixinfo.Discover(ctx, nixinfo.Options{CurrentSystem: current, Profile: filepath.Join(t.TempDir(), "none"), Hostname: "h",
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return g, log.String(), elapsed
}

// margin is what a call may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

// TestDiscoverVersionBounded: a nixos-version that never ends, even one
// whose child holds its output open, is killed with its children at the
// deadline; one that prints without end is stopped at a bound; neither
// stops discovery, which reads the label from the system instead.
func TestDiscoverVersionBounded(t *testing.T) {
	for name, script := range map[string]string{
		"sleeps":                             "sleep 30",
		"child holds output":                 "sleep 30 &\nexec sleep 30",
		"child in background after printing": "echo '{\"nixosVersion\":\"x\"}'\nsleep 30 &\nexit 0",
		"prints without end":                 "exec yes",
	} {
		t.Run(name, func(t *testing.T) {
			current := hostileSystem(t, script, map[string]string{"nixos-version": "24.05\n"})
			const deadline = time.Second
			g, log, elapsed := discoverWithin(t, current, deadline)
			if elapsed > deadline+margin {
				t.Errorf("discovery took %s, past its %s deadline", elapsed, deadline)
			}
			if g.Label != "24.05" && g.Label != "x" {
				t.Errorf("label %q", g.Label)
			}
			if name == "prints without end" && !strings.Contains(log, "printed more than") {
				t.Errorf("the log does not say why there is no revision:\n%s", log)
			}
		})
	}
}

// TestDiscoverFilesBounded: version files that are links to /dev/zero, or
// FIFOs, are not read (the first took all memory, the second blocked).
func TestDiscoverFilesBounded(t *testing.T) {
	current := hostileSystem(t, "exit 1", map[string]string{"nixos-version": "->/dev/zero"})
	if g, _, _ := discoverWithin(t, current, 5*time.Second); g.Label != "" {
		t.Errorf("label %q read from /dev/zero", g.Label)
	}
	current = hostileSystem(t, "exit 1", nil)
	sys, _ := filepath.EvalSymlinks(current)
	if err := os.Remove(filepath.Join(sys, "sw", "bin", "nixos-version")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"darwin-version.json", "darwin-version"} {
		if err := os.Symlink("/dev/zero", filepath.Join(sys, f)); err != nil {
			t.Fatal(err)
		}
	}
	g, log, _ := discoverWithin(t, current, 5*time.Second)
	if g.Platform != nixinfo.Darwin || g.Label != "" || !strings.Contains(log, "not a regular file") {
		t.Errorf("darwin system with /dev/zero: %+v\n%s", g, log)
	}
}

// BenchmarkDiscoverFloodingVersion: the memory discovery takes when
// nixos-version prints without end is bounded (it took 2 GB for 800 MB of
// output): see B/op.
func BenchmarkDiscoverFloodingVersion(b *testing.B) {
	current := hostileSystem(b, "exec yes", map[string]string{"nixos-version": "24.05\n"})
	b.ReportAllocs()
	for b.Loop() {
		discoverWithin(b, current, 10*time.Second)
	}
}
