package nixdaemon

import (
	"context"
	"fmt"
	"syscall"
	"testing"
)

// BenchmarkNixQueryPathInfos walks the closure of a system of about 3000
// store paths through a daemon's socket and through nix-daemon --stdio
// (connecting included), with one request in flight at a time and with
// more, over one connection and over two at once. cpu-ms/op is the
// client's.
//
//	go test -run '^$' -bench NixQueryPathInfos ./internal/nixdaemon/
func BenchmarkNixQueryPathInfos(b *testing.B) {
	root := bigSystem(b)
	for name, connect := range transports(b) {
		for _, conns := range []int{1, 2} {
			for _, window := range []int{1, 64, Window, 2048} {
				if conns > 1 && window != Window {
					continue
				}
				b.Run(fmt.Sprintf("%s/connections=%d/window=%d", name, conns, window), func(b *testing.B) {
					benchmarkWalk(b, root, conns, window, connect)
				})
			}
		}
	}
}

func benchmarkWalk(b *testing.B, root string, conns, window int, connect func(context.Context) (*Client, error)) {
	ctx := context.Background()
	n := 0
	cpu := cpuTime()
	for b.Loop() {
		cs := make(Clients, conns)
		for i := range cs {
			c, err := connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			c.window = window
			cs[i] = c
		}
		got, err := closure(ctx, cs, root, nil)
		if err != nil {
			b.Fatal(err)
		}
		cs.Close()
		n = len(got)
	}
	b.ReportMetric(float64(n), "paths")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the CPU time this process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
