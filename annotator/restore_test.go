package annotator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target/axiomapi"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// TestStreakStart: which deploy ends an unhealthy streak, and where the
// streak began. Failed and degraded deploys begin one or carry it on; a
// healthy deploy ends it; unknown health neither begins nor ends one; a
// rollback begins one at the deploy it undid, and ends it unless it
// failed itself.
func TestStreakStart(t *testing.T) {
	const (
		ok, failed, degraded, unknown = health.Healthy, health.Failed, health.Degraded, health.Unknown
	)
	type dep struct {
		health   health.Status
		rollback bool
	}
	cases := []struct {
		name string
		h    []dep
		// want is the index of the deploy the last one's streak began
		// with; -1 when the last ends none.
		want int
	}{
		{"healthy after healthy", []dep{{ok, false}, {ok, false}}, -1},
		{"failed, failed, healthy", []dep{{ok, false}, {failed, false}, {failed, false}, {ok, false}}, 1},
		{"degraded counts as failed", []dep{{ok, false}, {degraded, false}, {ok, false}}, 1},
		{"unknown carries a streak on", []dep{{failed, false}, {unknown, false}, {ok, false}}, 0},
		{"unknown ends none", []dep{{failed, false}, {unknown, false}}, -1},
		{"still failing", []dep{{failed, false}, {failed, false}}, -1},
		{"the second healthy ends none", []dep{{failed, false}, {ok, false}, {ok, false}}, -1},
		{"a second streak from its own start", []dep{{failed, false}, {ok, false}, {degraded, false}, {failed, false}, {ok, false}}, 2},
		{"rollback of a healthy deploy", []dep{{ok, false}, {ok, false}, {ok, true}}, 1},
		{"rollback of unknown health (not NixOS)", []dep{{unknown, false}, {unknown, false}, {unknown, true}}, 1},
		{"rollback of a failed deploy: from the streak's start", []dep{{ok, false}, {failed, false}, {failed, false}, {ok, true}}, 1},
		{"a failed rollback ends none", []dep{{ok, false}, {ok, false}, {failed, true}}, -1},
		{"healthy after a failed rollback", []dep{{ok, false}, {ok, false}, {failed, true}, {ok, false}}, 1},
		{"not judged yet is unknown", []dep{{failed, false}, {"", false}, {ok, false}}, 0},
		{"a rollback with nothing before it kept", []dep{{ok, true}}, -1},
	}
	for _, c := range cases {
		var h []outbox.Deployed
		for i, d := range c.h {
			h = append(h, outbox.Deployed{Seq: uint64(i + 1), StorePath: "/nix/store/x", Time: deployTime.Add(time.Duration(i) * time.Hour), Health: d.health, Rollback: d.rollback})
		}
		since, oldest := streakStart(h, len(h)-1)
		switch {
		case c.want < 0 && !since.IsZero():
			t.Errorf("%s: ends a streak begun %s, want none", c.name, since)
		case c.want >= 0 && !since.Equal(h[c.want].Time):
			t.Errorf("%s: ends a streak begun %s, want %s (deploy %d)", c.name, since, h[c.want].Time, c.want)
		case c.want >= 0 && oldest != (c.want == 0):
			t.Errorf("%s: from the oldest kept %v, want %v", c.name, oldest, c.want == 0)
		}
	}
}

// scriptedHealth judges each system as the test says: the judge of the
// deploys under test, whose own tests run under systemd.
type scriptedHealth map[string]health.Status

func (s scriptedHealth) Before(context.Context) health.Before { return health.Before{Known: true} }

func (s scriptedHealth) Judge(_ context.Context, system string, _ health.Before) *health.Report {
	switch st := s[system]; st {
	case health.Healthy:
		return &health.Report{Status: st}
	case health.Failed:
		return &health.Report{Status: st, Failed: []string{"nginx.service"}}
	}
	return health.Unknowable("not scripted")
}

// traced is an annotator on dir whose spans go to a fake OTLP receiver
// (through the command's own exporter) and whose annotations go to
// endpoint; end flushes the spans.
func traced(t *testing.T, dir, endpoint string, judge Health) (a *Annotator, end func() []fakeotlp.Span) {
	t.Helper()
	otlp := fakeotlp.New()
	t.Cleanup(otlp.Close)
	log, _ := testlog.New(t)
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Endpoint: otlp.Endpoint(), Dataset: "traces", Host: "host", Timeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	a = newAnnotator(t, dir, endpoint, func(o *Options, _ *axiomapi.Config) { o.Tracer, o.Health = p.Tracer(), judge })
	return a, func() []fakeotlp.Span {
		if err := p.Shutdown(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		return otlp.Spans()
	}
}

// deliverSpan is the deliver span of the deploy of system at a time.
func deliverSpan(t *testing.T, spans []fakeotlp.Span, system string, at time.Time) fakeotlp.Span {
	t.Helper()
	for _, s := range spans {
		if s.Name == "deliver" && s.Attr("nix.store_path") == system && s.Attr("deploy.time") == at.Format(time.RFC3339Nano) {
			return s
		}
	}
	t.Fatalf("no deliver span of %s at %s", system, at)
	return fakeotlp.Span{}
}

// seconds is a float attribute of a span; ok is false when it is absent.
func seconds(s fakeotlp.Span, key string) (float64, bool) {
	v, ok := s.Attrs[key]
	return v.GetDoubleValue(), ok
}

func record(t *testing.T, a *Annotator, g *nixinfo.Generation, at time.Time) {
	t.Helper()
	if _, err := a.Record(t.Context(), g, at, false); err != nil {
		t.Fatal(err)
	}
}

// TestTimeToRestoreOffline: failed, failed, healthy, the last two
// recorded while Axiom was out of reach and delivered hours later: the
// healthy one's time to restore runs from the first failed deploy, by the
// deploy times, and the commit time gives each its lead time.
func TestTimeToRestoreOffline(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	judge := scriptedHealth{systemA: health.Failed, systemB: health.Failed, systemOther: health.Healthy}
	commit := deployTime.Add(-2 * time.Hour)
	gen := func(system string) *nixinfo.Generation {
		g := testGeneration(system)
		g.CommitTime = &commit
		return g
	}
	times := []time.Time{deployTime, deployTime.Add(10 * time.Minute), deployTime.Add(time.Hour)}

	a, end := traced(t, dir, fake.Endpoint(), judge)
	record(t, a, gen(systemA), times[0])
	if res, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil || res.Err != nil {
		t.Fatalf("deliver: %v, %v", err, res.Err)
	}
	offline, _ := traced(t, dir, "http://"+closedAddress(t)+"/v2/annotations", judge)
	record(t, offline, gen(systemB), times[1])
	record(t, offline, gen(systemOther), times[2])
	if res, _ := offline.Deliver(ctxFor(t, 5*time.Second), true); res.Pending != 2 {
		t.Fatalf("offline: %d spooled, want both", res.Pending)
	}
	if res, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil || res.Err != nil || len(res.Delivered) != 2 {
		t.Fatalf("deliver later: %+v, %v", res, err)
	}
	spans := end()

	for i, system := range []string{systemA, systemB, systemOther} {
		s := deliverSpan(t, spans, system, times[i])
		if got := s.Attr("deploy.commit_time"); got != commit.Format(time.RFC3339) {
			t.Errorf("%s: deploy.commit_time %q, want %s", system, got, commit.Format(time.RFC3339))
		}
		if lead, ok := seconds(s, "deploy.lead_time"); !ok || lead != times[i].Sub(commit).Seconds() {
			t.Errorf("%s: deploy.lead_time %v (set %v), want %v", system, lead, ok, times[i].Sub(commit).Seconds())
		}
		ttr, ok := seconds(s, "deploy.time_to_restore")
		switch {
		case system != systemOther && ok:
			t.Errorf("%s (%s): deploy.time_to_restore %v, want none", system, s.Attr("deploy.health"), ttr)
		case system == systemOther && (!ok || ttr != time.Hour.Seconds()):
			t.Errorf("healthy after two failed: deploy.time_to_restore %v (set %v), want %v from the first failed", ttr, ok, time.Hour.Seconds())
		}
	}
	// The history keeps each deploy's health as judged.
	h, err := a.outbox.History()
	if err != nil {
		t.Fatal(err)
	}
	var got []health.Status
	for _, d := range h {
		got = append(got, d.Health)
	}
	if len(got) != 3 || got[0] != health.Failed || got[1] != health.Failed || got[2] != health.Healthy {
		t.Errorf("history health %v, want failed, failed, healthy", got)
	}
}

// TestTimeToRestoreRollback: a rollback (a system deployed before that is
// not the newest) gets time to restore from the deploy it undid, and no
// lead time: the revision it brings back is old. Its commit time is the
// one that revision was recorded with.
func TestTimeToRestoreRollback(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	judge := scriptedHealth{systemA: health.Healthy, systemB: health.Healthy}
	a, end := traced(t, t.TempDir(), fake.Endpoint(), judge)
	commitA, commitB := deployTime.Add(-time.Hour), deployTime.Add(time.Minute)
	times := []time.Time{deployTime, deployTime.Add(5 * time.Minute), deployTime.Add(20 * time.Minute)}
	for i, system := range []string{systemA, systemB, systemA} {
		g := testGeneration(system)
		g.Revision, g.CommitTime = "aaaaaaa", &commitA
		if system == systemB {
			g.Revision, g.CommitTime = "bbbbbbb", &commitB
		}
		if i == 2 {
			// Discovery of the rollback runs with the newer settings.
			g.Revision, g.CommitTime = "bbbbbbb", &commitB
		}
		record(t, a, g, times[i])
		if res, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil || res.Err != nil {
			t.Fatalf("deliver: %v, %v", err, res.Err)
		}
	}
	spans := end()
	back := deliverSpan(t, spans, systemA, times[2])
	if back.Attr("nix.rollback") != "true" {
		t.Fatalf("the third deploy is not a rollback: %v", back.Attrs)
	}
	if lead, ok := seconds(back, "deploy.lead_time"); ok {
		t.Errorf("rollback: deploy.lead_time %v, want none", lead)
	}
	if got := back.Attr("deploy.commit_time"); got != commitA.Format(time.RFC3339) {
		t.Errorf("rollback: deploy.commit_time %q, want the revision it brings back's %s", got, commitA.Format(time.RFC3339))
	}
	if ttr, ok := seconds(back, "deploy.time_to_restore"); !ok || ttr != times[2].Sub(times[1]).Seconds() {
		t.Errorf("rollback: deploy.time_to_restore %v (set %v), want %v from the deploy it undid", ttr, ok, times[2].Sub(times[1]).Seconds())
	}
	for i, system := range []string{systemA, systemB} {
		s := deliverSpan(t, spans, system, times[i])
		if ttr, ok := seconds(s, "deploy.time_to_restore"); ok {
			t.Errorf("%s: deploy.time_to_restore %v, want none", system, ttr)
		}
	}
	b := deliverSpan(t, spans, systemB, times[1])
	if lead, ok := seconds(b, "deploy.lead_time"); !ok || lead != 4*time.Minute.Seconds() {
		t.Errorf("deploy.lead_time %v (set %v), want 240", lead, ok)
	}
}

// TestRestoreBeyondHistory: a streak longer than the history keeps is
// measured from the oldest deploy kept, and a debug line says so; a
// revision committed after its deploy (clock skew) has no lead time, and a
// debug line says why.
func TestRestoreBeyondHistory(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, buf := testlog.New(t)
	judge := scriptedHealth{}
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(o *Options, _ *axiomapi.Config) { o.Health, o.Log = judge, log })
	n := outbox.HistoryLimit + 3
	var last *outbox.Entry
	for i := range n {
		system := fmt.Sprintf("/nix/store/%032d-nixos-system-host", i)
		judge[system] = health.Failed
		g := testGeneration(system)
		if i == n-1 {
			judge[system] = health.Healthy
			future := deployTime.Add(time.Duration(i)*time.Minute + time.Hour)
			g.CommitTime = &future
		}
		record(t, a, g, deployTime.Add(time.Duration(i)*time.Minute))
		res, err := a.Deliver(ctxFor(t, 5*time.Second), true)
		if err != nil || res.Err != nil || len(res.Delivered) != 1 {
			t.Fatalf("deliver %d: %+v, %v", i, res, err)
		}
		last = res.Delivered[0].Entry
	}
	oldestKept := deployTime.Add(time.Duration(n-outbox.HistoryLimit) * time.Minute)
	if !last.UnhealthySince.Equal(oldestKept) {
		t.Errorf("healthy after %d failed: unhealthy since %s, want the oldest kept %s", n-1, last.UnhealthySince, oldestKept)
	}
	for _, want := range []string{"the unhealthy streak began before the oldest deploy the history keeps", "no lead time: the revision's commit time is after the deploy's"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no debug line %q in:\n%s", want, buf.String())
		}
	}
	var commitTime, leadTime bool
	for _, kv := range DeployAttributes(last, "") {
		commitTime = commitTime || kv.Key == vocab.DeployCommitTime
		leadTime = leadTime || kv.Key == vocab.DeployLeadTime
	}
	if !commitTime || leadTime {
		t.Errorf("commit after the deploy: commit time set %v, lead time set %v; want the commit time alone", commitTime, leadTime)
	}
}
