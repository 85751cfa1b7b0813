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
// more.
//
//	go test -run '^$' -bench NixQueryPathInfos ./internal/nixdaemon/
func BenchmarkNixQueryPathInfos(b *testing.B) {
	root := bigSystem(b)
	for name, connect := range transports(b) {
		for _, window := range []int{1, 64, Window, 2048} {
			b.Run(fmt.Sprintf("%s/window=%d", name, window), func(b *testing.B) {
				ctx := context.Background()
				n := 0
				cpu := cpuTime()
				for b.Loop() {
					c, err := connect(ctx)
					if err != nil {
						b.Fatal(err)
					}
					c.window = window
					got, err := closure(ctx, c, root, nil)
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
					n = len(got)
				}
				b.ReportMetric(float64(n), "paths")
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			})
		}
	}
}

// cpuTime is the CPU time this process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
