package dashboard

import (
	"context"
	"runtime"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// BenchmarkFleetHugeAnswer reads a 300 MB answer as the fleet view does:
// the bytes allocated, and the peak heap, stay near axiomclient.MaxAnswer.
func BenchmarkFleetHugeAnswer(b *testing.B) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	s.SetQueryResult("deploy-traces", nil)
	c := viewClient(b, s)
	var peak uint64
	b.ReportAllocs()
	for b.Loop() {
		s.Fail(fakeaxiom.Fault{Huge: 300 << 20})
		if _, err := QueryFleet(context.Background(), c, "deploy-traces", 0, now); err == nil {
			b.Fatal("a 300 MB answer read")
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapSys)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
}

// BenchmarkFleet5000Hosts reads and renders a fleet of 5,000 hosts.
func BenchmarkFleet5000Hosts(b *testing.B) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	setFleet(s, hosts(5000))
	c := viewClient(b, s)
	b.ReportAllocs()
	for b.Loop() {
		f, err := QueryFleet(context.Background(), c, "deploy-traces", 0, now)
		if err != nil || len(f.Hosts) != 5000 {
			b.Fatal(len(f.Hosts), err)
		}
		if err := f.Render(discard{}, false); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
