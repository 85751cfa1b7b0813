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

// bigPaths is the size of each system in the benchmark pairs.
const bigPaths = 3000

// pair is a pair of systems built once per test process.
type pair struct {
	once          sync.Once
	before, after string
}

var bigPairs = map[string]*pair{"realistic": {}, "flat": {}, "deep-few": {}, "deep-all": {}}

// shapes are the shapes of the pairs, in order.
var shapes = []string{"realistic", "flat", "deep-few", "deep-all"}

// bigPair builds a pair of systems of bigPaths store paths once per test
// process: nixtest.BigSystems with packages that refer to a few others
// (realistic: a newer kernel under everything makes every path new), or
// to nothing (flat); or nixtest.DeepSystems, NixOS-like, with a few paths
// new (deep-few) or nearly all (deep-all).
func bigPair(tb testing.TB, shape string) (before, after string) {
	tb.Helper()
	nixtest.Require(tb)
	p := bigPairs[shape]
	p.once.Do(func() {
		start := time.Now()
		x, y := nixtest.BigSystems(bigPaths)
		build := nixtest.BuildBig
		switch shape {
		case "flat":
			build = nixtest.BuildFlat
		case "deep-few", "deep-all":
			x, y = nixtest.DeepSystems(bigPaths, shape == "deep-all")
			build = nixtest.BuildDeep
		}
		paths := build(tb, x, y)
		p.before, p.after = paths[0], paths[1]
		tb.Logf("built a %s pair of %d-path systems in %v", shape, bigPaths, time.Since(start).Round(time.Millisecond))
	})
	if p.before == "" {
		tb.Fatalf("building the %s pair failed earlier", shape)
	}
	return p.before, p.after
}

// BenchmarkDiffSystemsNix times DiffSystems on pairs of systems of about
// 3000 store paths each, realistic and flat, against nix store
// diff-closures on the same pair. DiffSystems walks both closures through
// the Nix daemon without snapshots (here, as root without a daemon,
// through nix-daemon --stdio); beside it are the two ways of asking nix
// path-info: two `nix path-info --recursive --size` side by side, what
// DiffSystems falls back to, and one `nix path-info --json --recursive` of
// both, walked in Go. The four take turns at going first. ns/op is
// DiffSystems alone; the metrics are medians in ms and their ratios to
// diff-closures (medians, as other work on the machine makes single runs
// jump).
//
//	go test -run '^$' -bench DiffSystemsNix -benchtime 21x ./nixinfo/
func BenchmarkDiffSystemsNix(b *testing.B) {
	b.Setenv("NIX_DAEMON_SOCKET_PATH", "/nonexistent/socket")
	for _, shape := range []string{"realistic", "flat"} {
		b.Run(shape, func(b *testing.B) {
			before, after := bigPair(b, shape)
			ctx := context.Background()
			var daemon, bySize, byRefs, nix []time.Duration
			timed := func(d *[]time.Duration, f func() error) func() {
				return func() {
					start := time.Now()
					if err := f(); err != nil {
						b.Fatal(err)
					}
					*d = append(*d, time.Since(start))
				}
			}
			ours := timed(&daemon, func() error {
				_, err := DiffSystems(ctx, before, after)
				return err
			})
			size := timed(&bySize, func() error {
				_, err := diffSystems(ctx, before, after, closuresBySize)
				return err
			})
			json := timed(&byRefs, func() error {
				_, err := diffSystems(ctx, before, after, closuresByReferences)
				return err
			})
			nixDiff := timed(&nix, func() error {
				cmd := exec.CommandContext(ctx, "nix", "store", "diff-closures", "--", before, after)
				cmd.Stderr = os.Stderr
				return cmd.Run()
			})
			untimed := func(f func()) func() {
				return func() { b.StopTimer(); defer b.StartTimer(); f() }
			}
			turns := []func(){ours, untimed(size), untimed(json), untimed(nixDiff)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := range turns {
					turns[(i+k)%len(turns)]()
				}
			}
			b.StopTimer()
			d, s, r, n := median(daemon), median(bySize), median(byRefs), median(nix)
			b.ReportMetric(ms(d), "daemon-ms")
			b.ReportMetric(ms(s), "size-ms")
			b.ReportMetric(ms(r), "json-ms")
			b.ReportMetric(ms(n), "diff-closures-ms")
			b.ReportMetric(float64(d)/float64(n), "ratio")
			b.ReportMetric(float64(s)/float64(n), "size-ratio")
			b.ReportMetric(float64(r)/float64(n), "json-ratio")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	return percentile(ds, 50)
}

func percentile(ds []time.Duration, p int) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)-1)*p/100]
}
