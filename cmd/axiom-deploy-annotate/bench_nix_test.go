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

// BenchmarkDryRunNix times the whole command, --dry-run, on the pairs of
// consecutive 3000-path systems (pairShapes), as root and as nobody (a
// service's user, what runs in production), both through a
// nix-daemon the benchmark starts, against `nix store diff-closures` run
// by the same user on the same pair, interleaved so that both see the same
// load. "snapshot" has the previous system's closure snapshotted (by its
// delivery) and the new one not, as after every deploy; "cold" has no
// snapshot. It reports the medians and their ratio. Targets: as nobody at
// most 0.2 with a snapshot and 0.5 cold, on every shape; as root at most
// 0.5 with a snapshot where few paths are new (flat, deep-few).
//
//	go test -run '^$' -bench DryRunNix -benchtime 15x ./cmd/axiom-deploy-annotate/
func BenchmarkDryRunNix(b *testing.B) {
	nixtest.Require(b)
	d := nixtest.StartDaemon(b)
	for _, shape := range pairShapes {
		p := bigPair(b, shape)
		for _, u := range users(b, d) {
			m, states := deployed(b, u, p, 2)
			if err := os.RemoveAll(filepath.Join(states[1], "snapshots")); err != nil {
				b.Fatal(err)
			}
			for i, kind := range []string{"snapshot", "cold"} {
				b.Run(shape+"/"+u.name+"/"+kind, func(b *testing.B) {
					benchmarkDryRun(b, u, m, states[i], p)
				})
			}
		}
	}
}

func benchmarkDryRun(b *testing.B, u user, m *nixtest.Machine, state string, p []string) {
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		u.setup(cmd)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return time.Since(start)
	}
	dryRun := func() time.Duration {
		return run(u.bin, "--dry-run", "--profile", m.Profile(), "--current-system", m.CurrentSystem(), "--state-dir", state, "--hostname", "bench")
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
