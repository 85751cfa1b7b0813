package nixinfo

import (
	"context"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// BenchmarkDiscoverNix times Discover alone, all that recording a deploy
// needs of nixinfo, on a machine whose two generations are the realistic
// pair of 3000-path systems. ns/op is the mean; the metrics are the median
// and the 95th percentile in ms. The median must stay well under 50 ms.
//
//	go test -run '^$' -bench DiscoverNix -benchtime 200x ./nixinfo/
func BenchmarkDiscoverNix(b *testing.B) {
	before, after := bigPair(b, "realistic")
	m := nixtest.NewMachine(b)
	m.Switch(before)
	m.Switch(after)
	opts := Options{CurrentSystem: m.CurrentSystem(), Profile: m.Profile(), Hostname: "bench"}
	ctx := context.Background()
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		g, err := Discover(ctx, opts)
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if g.StorePath != after || g.Previous != before || g.Number == nil || *g.Number != 2 {
			b.Fatalf("Discover = %+v; want generation 2, %s after %s", g, after, before)
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(median(times)), "median-ms")
	b.ReportMetric(ms(percentile(times, 95)), "p95-ms")
}
