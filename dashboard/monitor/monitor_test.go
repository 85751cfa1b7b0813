package monitor

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

const dataset = "deploy-traces"

func build(t *testing.T, o Options) []Definition {
	t.Helper()
	if o.Dataset == "" {
		o.Dataset = dataset
	}
	defs, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

func byKey(defs []Definition, key string) axiom.Monitor {
	for _, d := range defs {
		if d.Key == key {
			return d.Monitor
		}
	}
	panic("no monitor " + key)
}

// Every body, exactly as the SDK sends it, is a Monitor of Axiom's
// published schema and has the shape Axiom documents for its type.
func TestBodiesValidate(t *testing.T) {
	defs := build(t, Options{Notifiers: []string{"notify_1"}})
	if len(defs) != 4 {
		t.Fatalf("%d monitors", len(defs))
	}
	keys := map[string]bool{}
	for _, d := range defs {
		keys[d.Key] = true
		b, err := json.Marshal(axiom.MonitorCreateRequest{Monitor: d.Monitor})
		if err != nil {
			t.Fatal(err)
		}
		if err := fakeaxiom.ValidateMonitor(b); err != nil {
			t.Errorf("%s: %v\n%s", d.Key, err, b)
		}
		if body, _ := d.Body(); string(body) != string(b) {
			t.Errorf("%s: Body is not what the SDK sends", d.Key)
		}
		if !strings.Contains(d.Monitor.APLQuery, "['"+dataset+"']") || strings.Contains(d.Monitor.APLQuery, "bin_auto") {
			t.Errorf("%s reads %q", d.Key, d.Monitor.APLQuery)
		}
	}
	if len(keys) != len(defs) {
		t.Errorf("keys repeat: %v", keys)
	}
}

// A MatchEvent query only filters and reshapes, with the operators Axiom
// allows it; the check is the fake Axiom's, shown here to refuse one that
// aggregates.
func TestMatchEventOperators(t *testing.T) {
	n := 0
	for _, d := range build(t, Options{}) {
		if d.Monitor.Type != axiom.MonitorTypeMatchEvent {
			continue
		}
		n++
		if err := fakeaxiom.CheckMonitorQuery("MatchEvent", d.Monitor.APLQuery); err != nil {
			t.Errorf("%s: %v", d.Key, err)
		}
		if fakeaxiom.CheckMonitorQuery("MatchEvent", d.Monitor.APLQuery+"\n| summarize count() by host") == nil {
			t.Error("the check lets an aggregation through")
		}
	}
	if n == 0 {
		t.Error("no MatchEvent monitor")
	}
}

func TestOptions(t *testing.T) {
	defs := build(t, Options{})
	silent, behind, stuck := byKey(defs, "host-silent"), byKey(defs, "host-behind"), byKey(defs, "delivery-stuck")
	if silent.Threshold != 360 || behind.Threshold != 1440 || stuck.Range != time.Hour || silent.Range != 12*time.Hour || behind.Range != 48*time.Hour {
		t.Errorf("defaults: silent above %v, behind above %v, stuck over %v, silent over %v, behind over %v", silent.Threshold, behind.Threshold, stuck.Range, silent.Range, behind.Range)
	}
	defs = build(t, Options{SilentAfter: 5 * 24 * time.Hour, BehindAfter: 90 * time.Minute, SpooledAfter: 2 * time.Hour})
	silent, behind, stuck = byKey(defs, "host-silent"), byKey(defs, "host-behind"), byKey(defs, "delivery-stuck")
	if silent.Threshold != 7200 || silent.Range != 10*24*time.Hour || behind.Range != 3*time.Hour || behind.Threshold != 90 || stuck.Range != 2*time.Hour {
		t.Errorf("chosen: silent above %v over %v, behind above %v, stuck over %v", silent.Threshold, silent.Range, behind.Threshold, stuck.Range)
	}
	if !strings.Contains(silent.Description, "more than 5d ") || !strings.Contains(behind.Description, "more than 1h30m ago") {
		t.Errorf("descriptions say other times:\n%s\n%s", silent.Description, behind.Description)
	}
	for _, o := range []Options{{SilentAfter: 90 * time.Second}, {BehindAfter: 30 * time.Second}, {SpooledAfter: -time.Hour}, {Dataset: "a b"}} {
		if o.Dataset == "" {
			o.Dataset = dataset
		}
		if _, err := Build(o); err == nil {
			t.Errorf("%+v builds", o)
		}
	}
	if _, err := Build(Options{}); err == nil || !strings.Contains(err.Error(), "--traces-dataset") {
		t.Errorf("no dataset: %v", err)
	}
}

func TestNotifiers(t *testing.T) {
	for _, d := range build(t, Options{}) {
		if d.Monitor.NotifierIDs == nil || len(d.Monitor.NotifierIDs) != 0 {
			t.Errorf("%s: notifiers %#v without any chosen", d.Key, d.Monitor.NotifierIDs)
		}
	}
	for _, d := range build(t, Options{Notifiers: []string{"notify_b", "notify_a", "notify_b"}}) {
		if !slices.Equal(d.Monitor.NotifierIDs, []string{"notify_a", "notify_b"}) {
			t.Errorf("%s: notifiers %v", d.Key, d.Monitor.NotifierIDs)
		}
	}
}

// Each description ends in the line that finds the monitor again, whose
// fingerprint is that of the monitor as built; another notifier, time or
// dataset makes another fingerprint.
func TestMark(t *testing.T) {
	defs := build(t, Options{})
	seen := map[string]bool{}
	for _, d := range defs {
		k, ok := markOf(d.Monitor.Description)
		if !ok || k.key != d.Key || k.dataset != dataset || k.fingerprint != fingerprint(d.Monitor) {
			t.Errorf("%s: mark %+v, fingerprint %s\n%s", d.Key, k, fingerprint(d.Monitor), d.Monitor.Description)
		}
		seen[k.fingerprint] = true
	}
	for _, o := range []Options{{Notifiers: []string{"notify_1"}}, {SilentAfter: 7 * time.Hour}, {Dataset: "other"}} {
		m := byKey(build(t, o), "host-silent")
		if k, _ := markOf(m.Description); seen[k.fingerprint] {
			t.Errorf("%+v: the same fingerprint as the defaults", o)
		}
	}
	if _, ok := markOf("Made by someone else (host-silent on deploy-traces)."); ok {
		t.Error("a foreign description reads as marked")
	}
}
