package fakeaxiom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
)

const monitorBody = `{"name":"m","type":"Threshold","aplQuery":"['ds'] | summarize count() by bin(_time, 5m)","operator":"Above","threshold":1,"intervalMinutes":5,"rangeMinutes":5,"notifierIds":["notify_000001"]}`

func TestMonitors(t *testing.T) {
	s := New(token)
	defer s.Close()
	c, ctx := s.Client(), context.Background()
	base := s.URL + "/v2/monitors"
	resp, b, err := do(t, c, ctx, http.MethodPost, base, token, monitorBody)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %v %s %v", resp.Status, b, err)
	}
	if err := Validate("MonitorWithId", b); err != nil {
		t.Errorf("the created monitor is not a MonitorWithId: %v\n%s", err, b)
	}
	var made Monitor
	json.Unmarshal(b, &made)
	if !strings.HasPrefix(made.ID, "mon_") || made.CreatedAt.IsZero() || made.NotifierIDs[0] != "notify_000001" {
		t.Errorf("created %+v", made)
	}
	byID := base + "/" + made.ID
	for _, tc := range []struct {
		name, method, url, body string
		want                    int
	}{
		{"get", http.MethodGet, byID, "", http.StatusOK},
		{"get absent", http.MethodGet, base + "/mon_nope", "", http.StatusNotFound},
		{"update", http.MethodPut, byID, strings.Replace(monitorBody, `"threshold":1`, `"threshold":2`, 1), http.StatusOK},
		{"update absent", http.MethodPut, base + "/mon_nope", monitorBody, http.StatusNotFound},
		{"no name", http.MethodPost, base, strings.Replace(monitorBody, `"name":"m",`, "", 1), http.StatusBadRequest},
		{"empty name", http.MethodPost, base, strings.Replace(monitorBody, `"name":"m"`, `"name":" "`, 1), http.StatusBadRequest},
		{"unknown type", http.MethodPost, base, strings.Replace(monitorBody, `"Threshold"`, `"Sometimes"`, 1), http.StatusBadRequest},
		{"no query", http.MethodPost, base, strings.Replace(monitorBody, `"aplQuery"`, `"note"`, 1), http.StatusBadRequest},
		{"interval 0", http.MethodPost, base, strings.Replace(monitorBody, `"intervalMinutes":5`, `"intervalMinutes":0`, 1), http.StatusBadRequest},
		{"no range", http.MethodPost, base, strings.Replace(monitorBody, `"rangeMinutes":5,`, "", 1), http.StatusBadRequest},
		{"empty operator", http.MethodPost, base, strings.Replace(monitorBody, `"Above"`, `""`, 1), http.StatusBadRequest},
		{"bin_auto", http.MethodPost, base, strings.Replace(monitorBody, "bin(", "bin_auto(", 1), http.StatusBadRequest},
		{"match event that aggregates", http.MethodPost, base, strings.Replace(monitorBody, `"Threshold"`, `"MatchEvent"`, 1), http.StatusBadRequest},
		{"list", http.MethodGet, base, "", http.StatusOK},
		{"delete", http.MethodDelete, byID, "", http.StatusNoContent},
		{"delete again", http.MethodDelete, byID, "", http.StatusNotFound},
	} {
		resp, b, err := do(t, c, ctx, tc.method, tc.url, token, tc.body)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %s %v, want %d", tc.name, resp.Status, b, err, tc.want)
		}
		if tc.name == "update" {
			var m Monitor
			if json.Unmarshal(b, &m); m.ID != made.ID || m.Threshold != 2 || !m.CreatedAt.Equal(made.CreatedAt) {
				t.Errorf("updated in place: %s", b)
			}
		}
	}
	if len(s.Monitors()) != 0 {
		t.Errorf("holds %d monitors after the delete", len(s.Monitors()))
	}
}

// The Go SDK spells the notifier list notifierIDs and sends the fields the
// server sets; what it sends is stored as Axiom's schema names it, and
// read back by the SDK.
func TestMonitorsThroughTheSDK(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := context.Background()
	c, err := axiom.NewClient(axiom.SetNoEnv(), axiom.SetURL(s.URL), axiom.SetToken(token), axiom.SetClient(s.Client()), axiom.SetNoRetry())
	if err != nil {
		t.Fatal(err)
	}
	want := axiom.Monitor{Name: "silent", Type: axiom.MonitorTypeMatchEvent, APLQuery: "['ds'] | where error == true | project _time",
		Operator: axiom.Above, Interval: 5 * time.Minute, Range: 5 * time.Minute, Delay: 2 * time.Minute, NotifierIDs: []string{"notify_1"}}
	m, err := c.Monitors.Create(ctx, axiom.MonitorCreateRequest{Monitor: want})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Monitors.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.Type != want.Type || got.Interval != want.Interval || got.Delay != want.Delay ||
		len(got.NotifierIDs) != 1 || got.NotifierIDs[0] != "notify_1" || got.CreatedAt.IsZero() {
		t.Errorf("read back %+v", got)
	}
	if held := s.Monitors(); len(held) != 1 || held[0].NotifierIDs[0] != "notify_1" || held[0].DisabledUntil != nil || held[0].CreatedBy != "token" {
		t.Errorf("holds %+v", held)
	}
	s.Deny("monitors:update")
	if _, err := c.Monitors.Update(ctx, m.ID, axiom.MonitorUpdateRequest{Monitor: want}); !errors.Is(err, axiom.ErrUnauthorized) {
		t.Errorf("a denied update: %v", err)
	}
	if _, err := c.Monitors.List(ctx); err != nil {
		t.Errorf("only update is denied: %v", err)
	}
	s.Deny("monitors")
	if _, err := c.Monitors.List(ctx); !errors.Is(err, axiom.ErrUnauthorized) {
		t.Errorf("a denied list: %v", err)
	}
}

func TestNotifiers(t *testing.T) {
	s := New(token)
	defer s.Close()
	c, ctx := s.Client(), context.Background()
	resp, b, _ := do(t, c, ctx, http.MethodGet, s.URL+"/v2/notifiers", token, "")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("no notifiers: %s %s", resp.Status, b)
	}
	id := s.AddNotifier("on call", "oncall@example.com")
	resp, b, _ = do(t, c, ctx, http.MethodGet, s.URL+"/v2/notifiers", token, "")
	var list []json.RawMessage
	if json.Unmarshal(b, &list); resp.StatusCode != http.StatusOK || len(list) != 1 || !strings.HasPrefix(id, "notify_") {
		t.Fatalf("%s %s", resp.Status, b)
	}
	if err := Validate("NotifierWithId", list[0]); err != nil {
		t.Errorf("%v: %s", err, list[0])
	}
	s.Deny("notifiers:read")
	if resp, _, _ := do(t, c, ctx, http.MethodGet, s.URL+"/v2/notifiers", token, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("denied: %s", resp.Status)
	}
}

func TestCheckMonitorQuery(t *testing.T) {
	for _, tc := range []struct {
		typ, apl string
		ok       bool
	}{
		{"MatchEvent", "['ds'] | where a == 1 | extend b = 2 | project-away c | project-rename d = e | parse f with * 'x' g", true},
		{"MatchEvent", "['ds']\n| where name == 'a|b' // a | summarize in a comment\n| project x", true},
		{"MatchEvent", "['ds'] | where x in (['other'] | summarize by y) | project x", true},
		{"MatchEvent", "['ds'] | summarize count()", false},
		{"MatchEvent", "['ds'] | where a == 1 | take 5", false},
		{"MatchEvent", "['ds'] | mv-expand a", false},
		{"MatchEvent", "let x = 1; ['ds'] | where a == x", false},
		{"Threshold", "['ds'] | where a == 1 | summarize count() by bin(_time, 1m)", true},
		{"Threshold", "['ds'] | summarize n = count() by h | mv-expand x | summarize max(n) by h", true},
		{"Threshold", "['ds'] | summarize count() by bin_auto(_time)", false},
		{"Threshold", "['ds'] | summarize count() by bin_auto (_time)", false},
		{"Threshold", "['ds'] | where t == 'bin_auto(_time)' | summarize count()", true},
		{"Threshold", "['ds'] | summarize count() | where count_ > 1", false},
		{"Threshold", "['ds']", false},
	} {
		err := CheckMonitorQuery(tc.typ, tc.apl)
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: %v, want ok %v", tc.typ, tc.apl, err, tc.ok)
		}
	}
}
