package monitor

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

const token = "xaat-00000000-fake-0000-0000-000000000000"

func client(t *testing.T, s *fakeaxiom.Server, tok string) *axiom.Client {
	t.Helper()
	c, err := axiom.NewClient(axiom.SetNoEnv(), axiom.SetURL(s.URL), axiom.SetToken(tok), axiom.SetClient(s.Client()), axiom.SetNoRetry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applied is a fake Axiom, a client of it, and the default monitors
// made there.
func applied(t *testing.T) (*fakeaxiom.Server, *axiom.Client, []Definition) {
	t.Helper()
	s := fakeaxiom.New(token)
	t.Cleanup(s.Close)
	c, defs := client(t, s, token), build(t, Options{})
	if _, err := Apply(context.Background(), c, dataset, defs, false); err != nil {
		t.Fatal(err)
	}
	return s, c, defs
}

// statuses is each result's key and status, in order.
func statuses(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Key+" "+string(r.Status))
	}
	return out
}

// writes counts the fake's requests that change something.
func writes(s *fakeaxiom.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

func idOf(s *fakeaxiom.Server, key string) string {
	for _, m := range s.Monitors() {
		if k, ok := markOf(m.Description); ok && k.key == key {
			return m.ID
		}
	}
	return ""
}

// upgrade is defs as a later version might define them: the deploy
// monitor's query changed.
func upgrade(defs []Definition) []Definition {
	defs = slices.Clone(defs)
	for i := range defs {
		if defs[i].Key == "deploy-problem" {
			defs[i].Monitor.APLQuery += "\n| project-away trace_id"
			defs[i].seal(dataset)
		}
	}
	return defs
}

func TestApply(t *testing.T) {
	s := fakeaxiom.New(token)
	defer s.Close()
	c, ctx := client(t, s, token), context.Background()
	foreign := s.AddMonitor(fakeaxiom.Monitor{Name: "NixOS host silent", Type: "Threshold", APLQuery: "['x'] | summarize count()",
		Operator: "Above", IntervalMinutes: 5, RangeMinutes: 5, Description: "someone's own"})
	otherDataset := s.AddMonitor(fakeaxiom.Monitor{Name: "NixOS host silent", Type: "Threshold", APLQuery: "['staging'] | summarize count()",
		Operator: "Above", IntervalMinutes: 5, RangeMinutes: 5, Description: "x\n\n" + mark("host-silent", "staging", "0123456789abcdef")})
	before := s.Monitors()
	defs := build(t, Options{})

	// First run: all created, each body accepted by the fake's schema.
	rs, err := Apply(ctx, c, dataset, defs, false)
	if err != nil || !slices.Equal(statuses(rs), []string{"deploy-problem created", "delivery-stuck created", "host-silent created", "host-behind created"}) {
		t.Fatalf("first run: %v %v", statuses(rs), err)
	}
	if held := s.Monitors(); len(held) != 6 || rs[0].ID != idOf(s, "deploy-problem") {
		t.Fatalf("holds %d monitors; deploy-problem is %s, not %s", len(held), idOf(s, "deploy-problem"), rs[0].ID)
	}

	// Second run: nothing written.
	w := writes(s)
	rs, err = Apply(ctx, c, dataset, defs, false)
	if err != nil || strings.Count(strings.Join(statuses(rs), ","), "unchanged") != 4 || writes(s) != w {
		t.Fatalf("second run: %v %v, %d writes", statuses(rs), err, writes(s)-w)
	}

	// An upgraded definition updates that monitor in place.
	id := idOf(s, "deploy-problem")
	rs, err = Apply(ctx, c, dataset, upgrade(defs), false)
	if err != nil || rs[0].Status != Updated || rs[0].ID != id || rs[1].Status != Unchanged || writes(s) != w+1 {
		t.Fatalf("upgrade: %v %v", statuses(rs), err)
	}
	if m := s.Monitors(); len(m) != 6 || idOf(s, "deploy-problem") != id || !strings.HasSuffix(m[2].APLQuery, "project-away trace_id") {
		t.Fatalf("after the upgrade: %+v", m[2])
	}

	// Foreign monitors, and ours for another dataset, are untouched.
	after := s.Monitors()
	for i, want := range before {
		if got := after[i]; got.ID != want.ID || got.Description != want.Description || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("monitor %s (%s) changed", want.ID, want.Description)
		}
	}
	if after[0].ID != foreign || after[1].ID != otherDataset {
		t.Errorf("foreign monitors %s %s", after[0].ID, after[1].ID)
	}
}

func TestApplyKeepsEdits(t *testing.T) {
	s, c, defs := applied(t)
	ctx := context.Background()
	id := idOf(s, "host-silent")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	s.EditMonitor(id, func(m *fakeaxiom.Monitor) { m.Threshold = 720 })
	s.EditMonitor(idOf(s, "deploy-problem"), func(m *fakeaxiom.Monitor) { m.DisabledUntil = &until })
	w := writes(s)

	// Edited, and this version defines it as before: kept, quietly. A
	// pause is not an edit.
	rs, err := Apply(ctx, c, dataset, defs, false)
	if err != nil || rs[2].Status != Kept || rs[2].Stale || rs[0].Status != Unchanged || writes(s) != w {
		t.Fatalf("%v %v", statuses(rs), err)
	}

	// Edited, and this version changes it: kept, and said.
	defs = build(t, Options{SilentAfter: 8 * time.Hour, Notifiers: nil})
	rs, err = Apply(ctx, c, dataset, defs, false)
	if !errors.Is(err, ErrEdited) || !strings.Contains(err.Error(), id) || rs[2].Status != Kept || !rs[2].Stale || writes(s) != w {
		t.Fatalf("%v %v", statuses(rs), err)
	}
	if m := s.Monitors()[2]; m.Threshold != 720 {
		t.Errorf("the edit was overwritten: %v", m.Threshold)
	}

	// --force replaces the edit, in place, and keeps a pause set in Axiom.
	s.EditMonitor(id, func(m *fakeaxiom.Monitor) { m.DisabledUntil = &until })
	rs, err = Apply(ctx, c, dataset, defs, true)
	if err != nil || rs[2].Status != Updated || !rs[2].Overwritten || rs[2].ID != id {
		t.Fatalf("%v %v", statuses(rs), err)
	}
	if m := s.Monitors()[2]; m.Threshold != 480 || m.DisabledUntil == nil || !m.DisabledUntil.Equal(until) {
		t.Errorf("forced: threshold %v, paused until %v", m.Threshold, m.DisabledUntil)
	}
	// Disabling one in Axiom is an edit.
	s.EditMonitor(idOf(s, "host-behind"), func(m *fakeaxiom.Monitor) { m.Disabled = true })
	if rs, err := Apply(ctx, c, dataset, defs, false); err != nil || rs[3].Status != Kept {
		t.Errorf("disabled: %v %v", statuses(rs), err)
	}
}

// Copies of ours, and ours that this version no longer defines, are said
// and left alone.
func TestApplyDuplicateAndObsolete(t *testing.T) {
	s, c, defs := applied(t)
	ctx := context.Background()
	copied := s.Monitors()[1]
	copied.ID = ""
	dup := s.AddMonitor(copied)
	old := s.AddMonitor(fakeaxiom.Monitor{Name: "retired", Type: "Threshold", APLQuery: "['deploy-traces'] | summarize count()", Operator: "Above",
		IntervalMinutes: 5, RangeMinutes: 5, Description: "gone\n\n" + mark("retired-one", dataset, "0123456789abcdef")})
	w := writes(s)
	rs, err := Apply(ctx, c, dataset, defs, false)
	if err != nil || writes(s) != w {
		t.Fatal(statuses(rs), err)
	}
	want := []string{"deploy-problem unchanged", "delivery-stuck unchanged", "delivery-stuck duplicate", "host-silent unchanged", "host-behind unchanged", "retired-one obsolete"}
	if !slices.Equal(statuses(rs), want) || rs[2].ID != dup || rs[5].ID != old {
		t.Errorf("%v, want %v", statuses(rs), want)
	}
}

func TestApplyPermission(t *testing.T) {
	s := fakeaxiom.New(token)
	defer s.Close()
	ctx := context.Background()
	defs := build(t, Options{})
	var pe *PermissionError
	for _, tc := range []struct {
		deny, token, op string
		status          int
	}{
		{"monitors", token, "read", 403},
		{"monitors:create", token, "create", 403},
		{"", "xaat-wrong", "read", 401},
	} {
		s.Deny(tc.deny)
		_, err := Apply(ctx, client(t, s, tc.token), dataset, defs, false)
		if !errors.As(err, &pe) || pe.Op != tc.op || pe.Status != tc.status || strings.Contains(err.Error(), "\n") {
			t.Errorf("deny %q: %v", tc.deny, err)
		}
	}
	s.Deny()
	if _, err := Apply(ctx, client(t, s, token), dataset, defs, false); err != nil {
		t.Fatal(err)
	}
	s.Deny("monitors:update")
	if _, err := Apply(ctx, client(t, s, token), dataset, upgrade(defs), false); !errors.As(err, &pe) || pe.Op != "update" {
		t.Errorf("update denied: %v", err)
	}
}

func TestCheckNotifiers(t *testing.T) {
	s := fakeaxiom.New(token)
	defer s.Close()
	c, ctx := client(t, s, token), context.Background()
	if err := CheckNotifiers(ctx, c, []string{"notify_x"}); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("no notifiers: %v", err)
	}
	id := s.AddNotifier("on call", "oncall@example.com")
	if err := CheckNotifiers(ctx, c, []string{id}); err != nil {
		t.Error(err)
	}
	if err := CheckNotifiers(ctx, c, []string{id, "notify_x"}); err == nil || !strings.Contains(err.Error(), `"notify_x"`) || !strings.Contains(err.Error(), id+" (on call)") {
		t.Errorf("an unknown one: %v", err)
	}
	s.Deny("notifiers")
	var pe *PermissionError
	if err := CheckNotifiers(ctx, c, []string{id}); !errors.As(err, &pe) || pe.What != "notifiers" {
		t.Errorf("denied: %v", err)
	}
	if err := CheckNotifiers(ctx, c, nil); err != nil {
		t.Errorf("none asked: %v", err)
	}
}
