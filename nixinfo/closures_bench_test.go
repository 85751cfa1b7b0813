package nixinfo

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// bigPaths is the size of each system in the benchmark pair.
const bigPaths = 3000

var big struct {
	once          sync.Once
	before, after string
}

// bigPair builds nixtest.BigSystems(bigPaths) once per test process.
func bigPair(b testing.TB) (before, after string) {
	b.Helper()
	nixtest.Require(b)
	big.once.Do(func() {
		start := time.Now()
		x, y := nixtest.BigSystems(bigPaths)
		paths := nixtest.BuildBig(b, x, y)
		big.before, big.after = paths[0], paths[1]
		b.Logf("built a pair of %d-path systems in %v", bigPaths, time.Since(start).Round(time.Millisecond))
	})
	if big.before == "" {
		b.Fatal("building the big pair failed earlier")
	}
	return big.before, big.after
}

// BenchmarkDiffSystems times DiffSystems on a realistic pair of systems of
// about 3000 store paths each, and nix store diff-closures on the same pair
// beside it, taking turns at going first. ns/op is DiffSystems alone; the
// metrics are the medians of both in ms and their ratio, which must stay at
// or below 1 (medians, as other work on the machine makes single runs
// jump).
func BenchmarkDiffSystems(b *testing.B) {
	before, after := bigPair(b)
	ctx := context.Background()
	ours := make([]time.Duration, 0, b.N)
	nix := make([]time.Duration, 0, b.N)
	diffSystems := func() {
		start := time.Now()
		if _, err := DiffSystems(ctx, before, after); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start))
	}
	diffClosures := func() {
		b.StopTimer()
		defer b.StartTimer()
		start := time.Now()
		cmd := exec.CommandContext(ctx, "nix", "store", "diff-closures", before, after)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		nix = append(nix, time.Since(start))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			diffSystems()
			diffClosures()
		} else {
			diffClosures()
			diffSystems()
		}
	}
	b.StopTimer()
	o, n := median(ours), median(nix)
	b.ReportMetric(float64(o)/float64(time.Millisecond), "DiffSystems-ms")
	b.ReportMetric(float64(n)/float64(time.Millisecond), "diff-closures-ms")
	b.ReportMetric(float64(o)/float64(n), "ratio")
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
