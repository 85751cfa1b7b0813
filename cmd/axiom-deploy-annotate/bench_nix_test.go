package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// BenchmarkDryRunNix times the whole command, --dry-run, on pairs of
// consecutive systems of about 3000 store paths each, realistic (packages
// refer to a few others) and flat (packages refer to nothing, which Nix
// walks fastest), against `nix store diff-closures` alone on the same pair,
// interleaved so that both see the same load. It reports the medians and
// their ratio; the dry run must be no slower than diff-closures.
//
//	go test -run '^$' -bench DryRunNix -benchtime 15x ./cmd/axiom-deploy-annotate/
func BenchmarkDryRunNix(b *testing.B) {
	nixtest.Require(b)
	before, after := nixtest.BigSystems(3000)
	for _, shape := range []struct {
		name  string
		build func(testing.TB, ...nixtest.System) []string
	}{{"realistic", nixtest.BuildBig}, {"flat", nixtest.BuildFlat}} {
		b.Run(shape.name, func(b *testing.B) {
			benchmarkDryRun(b, shape.build(b, before, after))
		})
	}
}

// switchedTo is a machine whose generations are the systems p, in order.
func switchedTo(b *testing.B, p []string) *nixtest.Machine {
	m := nixtest.NewMachine(b)
	for _, sys := range p {
		m.Switch(sys)
	}
	return m
}

func benchmarkDryRun(b *testing.B, p []string) {
	m := switchedTo(b, p)
	bin := binary(b)
	state := filepath.Join(b.TempDir(), "state")
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return time.Since(start)
	}
	dryRun := func() time.Duration {
		return run(bin, "--dry-run", "--profile", m.Profile(), "--current-system", m.CurrentSystem(), "--state-dir", state, "--hostname", "bench")
	}
	diffClosures := func() time.Duration {
		return run("nix", "store", "diff-closures", "--", p[0], p[1])
	}
	var ours, nix []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ours = append(ours, dryRun())
			nix = append(nix, diffClosures())
		} else {
			nix = append(nix, diffClosures())
			ours = append(ours, dryRun())
		}
	}
	b.StopTimer()
	o, n := median(ours), median(nix)
	b.ReportMetric(float64(o)/float64(time.Millisecond), "dry-run-ms")
	b.ReportMetric(float64(n)/float64(time.Millisecond), "diff-closures-ms")
	b.ReportMetric(float64(o)/float64(n), "ratio")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
