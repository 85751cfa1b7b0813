package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// BenchmarkRecordNix times `record`, what a NixOS switch waits for, on a
// generation of about 3000 store paths, once with Axiom hanging and once
// with it healthy, interleaved. Recording sends nothing, so the two must be
// alike; it reports each one's median and p95.
//
//	go test -run '^$' -bench RecordNix -benchtime 41x ./cmd/axiom-deploy-annotate/
func BenchmarkRecordNix(b *testing.B) {
	nixtest.Require(b)
	m := nixtest.NewMachine(b)
	for _, system := range bigPair(b, "realistic") {
		m.Switch(system)
	}
	bin := binary(b)
	token := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(token, []byte("xaat-bench-token\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	healthy := fakeaxiom.New("xaat-bench-token")
	defer healthy.Close()
	hanging := fakeaxiom.New("xaat-bench-token")
	defer hanging.Close()

	n := 0
	record := func(api *fakeaxiom.Server) time.Duration {
		n++
		// A new state directory each time: every run records a new deploy.
		state := filepath.Join(b.TempDir(), fmt.Sprint(n))
		cmd := exec.Command(bin, "record", "--profile", m.Profile(), "--current-system", m.CurrentSystem(),
			"--state-dir", state, "--hostname", "bench", "--api-endpoint", api.Endpoint(), "--token-file", token,
			"--traces-endpoint", api.URL+"/v1/traces", "--traces-dataset", "traces")
		cmd.Stderr = os.Stderr
		hanging.Fail(fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true})
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("record: %v", err)
		}
		if len(out) == 0 || out[0] != 'r' {
			b.Fatalf("record printed %q", out)
		}
		return d
	}
	var hung, ok []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			hung = append(hung, record(hanging))
			ok = append(ok, record(healthy))
		} else {
			ok = append(ok, record(healthy))
			hung = append(hung, record(hanging))
		}
	}
	b.StopTimer()
	if len(hanging.Requests())+len(healthy.Requests()) != 0 {
		b.Errorf("record sent %d requests", len(hanging.Requests())+len(healthy.Requests()))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(hung, 50)), "hanging-p50-ms")
	b.ReportMetric(ms(percentile(hung, 95)), "hanging-p95-ms")
	b.ReportMetric(ms(percentile(ok, 50)), "healthy-p50-ms")
	b.ReportMetric(ms(percentile(ok, 95)), "healthy-p95-ms")
}

// percentile is the p-th percentile of ds, nearest rank.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// BenchmarkRecordHomeManagerNix times `record` as Home Manager's activation
// runs it (given $newGenPath) on a user's generation whose home-path holds
// 500 packages, in a profile of 20 generations; Axiom hangs, and must not
// be asked. It reports the median and p95.
//
//	go test -run '^$' -bench RecordHomeManagerNix -benchtime 41x ./cmd/axiom-deploy-annotate/
func BenchmarkRecordHomeManagerNix(b *testing.B) {
	nixtest.Require(b)
	pkgs := make([]nixtest.Package, 500)
	for i := range pkgs {
		pkgs[i] = nixtest.Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0"}
	}
	homes := make([]nixtest.Home, 20)
	for i := range homes {
		homes[i] = nixtest.Home{Label: "25.11", Packages: pkgs, Salt: fmt.Sprint("bench-", i)}
	}
	home := nixtest.NewHome(b)
	gens := nixtest.BuildHome(b, homes...)
	for _, g := range gens {
		home.Switch(g)
	}
	bin := binary(b)
	hanging := fakeaxiom.New("xaat-bench-token")
	defer hanging.Close()
	newest := gens[len(gens)-1]

	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		state := filepath.Join(b.TempDir(), fmt.Sprint(i))
		cmd := exec.Command(bin, "record", "--scope", "home-manager", "--profile", home.Profile(), "--current-system", newest,
			"--state-dir", state, "--hostname", "bench", "--api-endpoint", hanging.Endpoint(),
			"--traces-endpoint", hanging.URL+"/v1/traces", "--traces-dataset", "traces", "--revision", "0123456")
		cmd.Env = append(os.Environ(), "USER=alice", "AXIOM_TOKEN=xaat-bench-token")
		hanging.Fail(fakeaxiom.Fault{Hang: true})
		start := time.Now()
		out, err := cmd.Output()
		took = append(took, time.Since(start))
		if err != nil || string(out) != "recorded \"alice@bench hm gen 20\"\n" {
			b.Fatalf("record: %v, %q", err, out)
		}
	}
	b.StopTimer()
	if n := len(hanging.Requests()); n != 0 {
		b.Errorf("record sent %d requests", n)
	}
	b.ReportMetric(float64(percentile(took, 50))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(percentile(took, 95))/float64(time.Millisecond), "p95-ms")
}
