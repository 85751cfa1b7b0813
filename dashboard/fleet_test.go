package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

var now = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

func ago(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }

const (
	revA = "aaaaaaa1111111111111111111111111111111111"
	revB = "bbbbbbb2222222222222222222222222222222222"
)

// fleetTable is what Axiom answers FleetQuery: one row per deploy of a
// host, column-major.
func fleetTable(s *fakeaxiom.Server) {
	fields := []fakeaxiom.QueryField{
		{Name: "host", Type: "string"}, {Name: "deployment", Type: "string"},
		{Name: "deployed", Type: "datetime"}, {Name: "last_run", Type: "datetime"}, {Name: "_time", Type: "datetime"},
		{Name: "generation", Type: "integer"}, {Name: "revision", Type: "string"}, {Name: "label", Type: "string"},
		{Name: "outcome", Type: "string"}, {Name: "spooled", Type: "integer"}, {Name: "message", Type: "string"},
	}
	h := 24 * time.Hour
	rows := [][]any{
		// web-1: on the newest revision, delivered.
		{"web-1", "d1", ago(2 * time.Hour), ago(2 * time.Hour), ago(2 * time.Hour), 42.0, revB, "24.05.1", "annotated", 0.0, nil},
		{"web-1", "d0", ago(5 * h), ago(5 * h), ago(5 * h), 41.0, revA, "24.05.0", "annotated", 0.0, nil},
		// web-2: behind, its delivery failed and waits in the spool.
		{"web-2", "d2", ago(3 * h), ago(time.Hour), ago(time.Hour), 17.0, revA, "24.05.0", "error", 2.0, "axiom: 503 Service Unavailable"},
		// db-1: a test activation long ago, and nothing since.
		{"db-1", "d3", ago(45 * h), ago(40 * h), ago(40 * h), nil, revA + "-dirty", "24.05.0", "recorded", 0.0, nil},
	}
	columns := make([][]any, len(fields))
	for _, r := range rows {
		for i := range fields {
			columns[i] = append(columns[i], r[i])
		}
	}
	s.SetQueryResult("deploy-traces", fields, columns...)
}

func TestFleet(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	fleetTable(s)
	f, err := QueryFleet(context.Background(), client(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	// The query covers the default 30 days, always with a start.
	var sent struct {
		APL       string    `json:"apl"`
		StartTime time.Time `json:"startTime"`
	}
	reqs := s.Requests()
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil || !sent.StartTime.Equal(now.Add(-DefaultSince)) || sent.APL != FleetQuery("deploy-traces") {
		t.Errorf("sent %+v %v", sent, err)
	}
	if len(f.Hosts) != 3 || f.Newest != revB {
		t.Fatalf("%d hosts, newest %q", len(f.Hosts), f.Newest)
	}
	web1, web2, db1 := f.Hosts[0], f.Hosts[1], f.Hosts[2]
	if web1.Host != "web-1" || *web1.Generation != 42 || web1.Behind || web1.Failed || web1.Held || web1.Stale || web1.Outcome != "annotated" {
		t.Errorf("web-1 %+v", web1)
	}
	if web2.Host != "web-2" || !web2.Behind || !web2.Failed || !web2.Held || web2.Spooled != 2 || web2.Message == "" || web2.Stale {
		t.Errorf("web-2 %+v", web2)
	}
	if db1.Host != "db-1" || db1.Generation != nil || !db1.Stale || !db1.Behind || db1.Failed {
		t.Errorf("db-1 %+v", db1)
	}

	var out bytes.Buffer
	if err := f.Render(&out, false); err != nil {
		t.Fatal(err)
	}
	want := `HOST   GEN   REVISION       LABEL    DEPLOYED                    OUTCOME
web-1  42    bbbbbbb        24.05.1  2026-03-14 13:00 (2h ago)   annotated
web-2  17    aaaaaaa        24.05.0  2026-03-11 15:00 (3d ago)   error      delivery failed, 2 spooled, behind
db-1   test  aaaaaaa-dirty  24.05.0  2026-01-28 15:00 (45d ago)  recorded   behind, not deployed for 30d
`
	if out.String() != want {
		t.Errorf("rendered\n%s\nwant\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("colour without asking")
	}
	out.Reset()
	f.Render(&out, true)
	if !strings.Contains(out.String(), red+"delivery failed, 2 spooled, behind"+reset) || !strings.Contains(out.String(), yellow+"behind, not deployed for 30d"+reset) {
		t.Errorf("colour:\n%q", out.String())
	}

	out.Reset()
	if err := f.JSON(&out); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Newest string `json:"newestRevision"`
		Hosts  []map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Newest != revB || len(back.Hosts) != 3 {
		t.Fatalf("JSON %s: %v", out.String(), err)
	}
	if h := back.Hosts[1]; h["host"] != "web-2" || h["behind"] != true || h["deliveryFailed"] != true || h["spooled"] != 2.0 || h["revision"] != revA {
		t.Errorf("JSON web-2: %v", h)
	}
	if h := back.Hosts[2]; h["generation"] != nil || h["stale"] != true {
		t.Errorf("JSON db-1: %v", h)
	}
}

func TestFleetEmpty(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	s.SetQueryResult("deploy-traces", []fakeaxiom.QueryField{{Name: "host", Type: "string"}, {Name: "deployed", Type: "datetime"}, {Name: "last_run", Type: "datetime"}}, []any{}, []any{}, []any{})
	f, err := QueryFleet(context.Background(), client(t, s), "deploy-traces", 7*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	f.Render(&out, true)
	if got := out.String(); got != "no deploy runs in deploy-traces since 2026-03-07 15:00 UTC\n" {
		t.Errorf("%q", got)
	}
	out.Reset()
	f.JSON(&out)
	if !strings.Contains(out.String(), `"hosts": []`) {
		t.Errorf("JSON %s", out.String())
	}
}

func TestFleetErrors(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	fleetTable(s)
	_, err := QueryFleet(context.Background(), client(t, s), "elsewhere", 0, now)
	oneLine(t, err, `no dataset "elsewhere" in Axiom`)
	s.Deny("query")
	_, err = QueryFleet(context.Background(), client(t, s), "deploy-traces", 0, now)
	oneLine(t, err, `may not query dataset "deploy-traces"`)
	_, err = QueryFleet(context.Background(), client(t, s), "bad'] | take 1", 0, now)
	oneLine(t, err, "invalid traces dataset")
}

func TestFleetFromTableRefusesBadTimes(t *testing.T) {
	s := fakeaxiom.New(testToken)
	defer s.Close()
	s.SetQueryResult("deploy-traces", []fakeaxiom.QueryField{{Name: "host"}, {Name: "deployed"}, {Name: "last_run"}}, []any{"web-1"}, []any{"yesterday"}, []any{ago(0)})
	_, err := QueryFleet(context.Background(), client(t, s), "deploy-traces", 0, now)
	oneLine(t, err, `"yesterday" that is not RFC 3339`)
}

func TestShortRevisionAndAge(t *testing.T) {
	for in, want := range map[string]string{revA: "aaaaaaa", revA + "-dirty": "aaaaaaa-dirty", "abc": "abc", "": ""} {
		if got := shortRevision(in); got != want {
			t.Errorf("shortRevision(%q) = %q", in, got)
		}
	}
	for d, want := range map[time.Duration]string{time.Second: "just now", 5 * time.Minute: "5m ago", 47 * time.Hour: "47h ago", 50 * time.Hour: "2d ago"} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q", d, got)
		}
	}
}
