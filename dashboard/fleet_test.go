package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
)

var now = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

func ago(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }

const (
	revA = "aaaaaaa1111111111111111111111111111111111"
	revB = "bbbbbbb2222222222222222222222222222222222"
)

// fleetFake is a fake Axiom whose traces dataset is a new user's: it
// judges each query with Kusto's analyzer against the columns a plain
// first deploy gives, and refuses one that names a column the dataset
// lacks, as Axiom would.
func fleetFake(t *testing.T) *fakeaxiom.Server {
	t.Helper()
	s := fakeaxiom.New(testToken)
	t.Cleanup(s.Close)
	s.SetQueryColumns("deploy-traces", axiomcols.FirstDeploy(), kusto.Start(t))
	return s
}

// viewClient is the views' client, as the command makes it.
func viewClient(t testing.TB, s *fakeaxiom.Server) *axiom.Client {
	t.Helper()
	c, err := axiomclient.New(axiomclient.Options{URL: s.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fleetFields are the columns of FleetQuery's answer.
var fleetFields = []fakeaxiom.QueryField{
	{Name: "host", Type: "string"}, {Name: "deployed", Type: "datetime"}, {Name: "last_run", Type: "datetime"},
	{Name: "generation", Type: "integer"}, {Name: "test_activation", Type: "boolean"}, {Name: "revision", Type: "string"},
	{Name: "label", Type: "string"}, {Name: "outcome", Type: "string"}, {Name: "spooled", Type: "integer"}, {Name: "message", Type: "string"},
}

// setFleet makes the fake answer FleetQuery with these rows, one a host,
// column-major as Axiom answers.
func setFleet(s *fakeaxiom.Server, rows [][]any) { setTable(s, fleetFields, rows) }

// setTable makes the fake answer with rows of these fields, column-major.
func setTable(s *fakeaxiom.Server, fields []fakeaxiom.QueryField, rows [][]any) {
	columns := make([][]any, len(fields))
	for i := range fields {
		columns[i] = []any{}
		for _, r := range rows {
			columns[i] = append(columns[i], r[i])
		}
	}
	s.SetQueryResult("deploy-traces", fields, columns...)
}

// fleetTable is what Axiom answers FleetQuery for three hosts.
func fleetTable(s *fakeaxiom.Server) {
	h := 24 * time.Hour
	setFleet(s, [][]any{
		// web-1: on the newest revision, delivered.
		{"web-1", ago(2 * time.Hour), ago(2 * time.Hour), 42.0, false, revB, "24.05.1", "annotated", 0.0, nil},
		// web-2: behind, its delivery failed, and its latest flush left
		// two deploys spooled.
		{"web-2", ago(3 * h), ago(time.Hour), 17.0, false, revA, "24.05.0", "error", 2.0, "axiom: 503 Service Unavailable"},
		// db-1: a test activation long ago, and nothing since.
		{"db-1", ago(45 * h), ago(40 * h), nil, true, revA + "-dirty", "24.05.0", "recorded", 0.0, nil},
	})
}

func TestFleet(t *testing.T) {
	s := fleetFake(t)
	fleetTable(s)
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
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
	if len(f.Hosts) != 3 || f.Newest != revB || f.Incomplete() != nil {
		t.Fatalf("%d hosts, newest %q, %v", len(f.Hosts), f.Newest, f.Incomplete())
	}
	web1, web2, db1 := f.Hosts[0], f.Hosts[1], f.Hosts[2]
	if web1.Host != "web-1" || *web1.Generation != 42 || web1.Behind || web1.Failed || web1.Held || web1.Stale || web1.Outcome != "annotated" {
		t.Errorf("web-1 %+v", web1)
	}
	if web2.Host != "web-2" || !web2.Behind || !web2.Failed || !web2.Held || web2.Spooled != 2 || web2.Message == "" || web2.Stale {
		t.Errorf("web-2 %+v", web2)
	}
	if db1.Host != "db-1" || db1.Generation != nil || !db1.Test || !db1.Stale || !db1.Behind || db1.Failed {
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
	if h := back.Hosts[2]; h["generation"] != nil || h["testActivation"] != true || h["stale"] != true {
		t.Errorf("JSON db-1: %v", h)
	}
}

// hosts is n hosts' rows, host-0000 deployed most recently.
func hosts(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		at := ago(time.Duration(i+1) * time.Minute)
		rows[i] = []any{fmt.Sprintf("host-%04d", i), at, at, float64(i + 1), false, revB, "24.05.1", "annotated", 0.0, nil}
	}
	return rows
}

// A fleet of 5,000 hosts is one answer of 5,000 rows (Axiom answers 1,000
// unless asked for more), and every one is printed. A partial answer is
// printed, but said to be partial.
func TestFleet5000Hosts(t *testing.T) {
	s := fleetFake(t)
	setFleet(s, hosts(5000))
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := f.Render(&out, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(f.Hosts) != 5000 || len(lines) != 5001 || f.Incomplete() != nil {
		t.Fatalf("%d hosts, %d lines printed, %v", len(f.Hosts), len(lines), f.Incomplete())
	}
	if !strings.HasPrefix(lines[1], "host-0000 ") || !strings.HasPrefix(lines[5000], "host-4999 ") {
		t.Errorf("first and last rows: %q, %q", lines[1], lines[5000])
	}

	s.SetQueryPartial("deploy-traces", true)
	f, err = QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil || !f.Partial || len(f.Hosts) != 5000 {
		t.Fatalf("partial %v, %d hosts, %v", f.Partial, len(f.Hosts), err)
	}
	oneLine(t, f.Incomplete(), "partial: the 5000 hosts printed are not the whole fleet")
	out.Reset()
	f.JSON(&out)
	if !strings.Contains(out.String(), `"partial": true`) {
		t.Error("the JSON does not say it is partial")
	}
}

// A fleet larger than MaxHosts is cut, and said to be.
func TestFleetTruncated(t *testing.T) {
	s := fleetFake(t)
	setFleet(s, hosts(MaxHosts+5))
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != MaxHosts || !f.Truncated {
		t.Fatalf("%d hosts, truncated %v", len(f.Hosts), f.Truncated)
	}
	oneLine(t, f.Incomplete(), fmt.Sprintf("more than %d hosts", MaxHosts))
}

// What Axiom answers is shown cleaned, as anything from outside: no
// escape, control or invisible character reaches the terminal, and a
// number too large to be a generation is none.
func TestFleetCleansAnswers(t *testing.T) {
	s := fleetFake(t)
	setFleet(s, [][]any{
		{"web\x1b]0;owned\x07-1\u202e", ago(time.Hour), ago(time.Hour), 1e300, false, "\x1b[2J" + revB, "24.05\r\t.1",
			"\x1b]8;;https://evil.example\x1b\\annotated\x1b]8;;\x1b\\", -3.0, nil},
		{"web-2", ago(2 * time.Hour), ago(time.Hour), 7.5, false, revA, strings.Repeat("x", 10000), "spooled", 1.0, "\x1b[31mred\nnext line"},
	})
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	var table, js bytes.Buffer
	f.Render(&table, false)
	f.JSON(&js)
	for _, bad := range []string{"\x1b", "\x07", "\r", "\t", "\u202e", `\u001b`, `\r`, `\t`, "-9223372036854775808", "-3"} {
		if strings.Contains(table.String()+js.String(), bad) {
			t.Errorf("%q in the output:\n%s\n%s", bad, table.String(), js.String())
		}
	}
	if n := strings.Count(table.String(), "\n"); n != 3 {
		t.Errorf("%d lines for two hosts:\n%s", n, table.String())
	}
	web1, web2 := f.Hosts[0], f.Hosts[1]
	if web1.Generation != nil || web1.Spooled != 0 || web1.Host != "web ]0;owned -1" || web2.Generation != nil {
		t.Errorf("web-1 %+v, web-2 generation %v", web1, web2.Generation)
	}
	if len(web2.Label) > maxLabel || web2.Message != "[31mred next line" {
		t.Errorf("web-2 label of %d bytes, message %q", len(web2.Label), web2.Message)
	}
}

func TestFleetEmpty(t *testing.T) {
	s := fleetFake(t)
	setFleet(s, nil)
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 7*24*time.Hour, now)
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
	s := fleetFake(t)
	fleetTable(s)
	_, err := QueryFleet(context.Background(), viewClient(t, s), "elsewhere", 0, now)
	oneLine(t, err, `no dataset "elsewhere" in Axiom`)
	s.Deny("query")
	_, err = QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	oneLine(t, err, `may not query dataset "deploy-traces"`)
	_, err = QueryFleet(context.Background(), viewClient(t, s), "bad'] | take 1", 0, now)
	oneLine(t, err, "invalid traces dataset")
}

// Axiom's error text is shown in one short line, cleaned; the views'
// client asks once, however Axiom fails.
func TestFleetAxiomFails(t *testing.T) {
	s := fleetFake(t)
	fleetTable(s)
	msg, _ := json.Marshal(map[string]string{"message": "\x1b[2Jbad query " + strings.Repeat("blah ", 200000)})
	s.Fail(fakeaxiom.Fault{Status: http.StatusBadRequest, Body: msg})
	_, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	oneLine(t, err, "Axiom answered 400: [2Jbad query blah")
	if len(err.Error()) > 400 || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("an error of %d bytes: %q", len(err.Error()), err)
	}

	before := len(s.Requests())
	for range 5 {
		s.Fail(fakeaxiom.Fault{Status: http.StatusServiceUnavailable})
	}
	_, err = QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	oneLine(t, err, "Axiom answered 503")
	if n := len(s.Requests()) - before; n != 1 {
		t.Errorf("%d requests for one query", n)
	}
}

// An answer is read up to axiomclient.MaxAnswer bytes, then given up.
func TestFleetHugeAnswer(t *testing.T) {
	s := fleetFake(t)
	fleetTable(s)
	s.Fail(fakeaxiom.Fault{Huge: 300 << 20})
	_, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	oneLine(t, err, "axiom's answer is larger than 32 MiB")
}

func TestFleetFromTableRefusesBadTimes(t *testing.T) {
	s := fleetFake(t)
	s.SetQueryResult("deploy-traces", []fakeaxiom.QueryField{{Name: "host"}, {Name: "deployed"}, {Name: "last_run"}}, []any{"web-1"}, []any{"yesterday\x1b[2J"}, []any{ago(0)})
	_, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	oneLine(t, err, `"yesterday [2J" that is not RFC 3339`)
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

// TestFleetHomeManager: a host's system and a user's Home Manager
// generations there are two rows, the latter named "alice@laptop (hm)",
// and each is behind only the newest revision of its own scope: a Home
// Manager configuration's commits are not the systems'.
func TestFleetHomeManager(t *testing.T) {
	s := fleetFake(t)
	fields := append([]fakeaxiom.QueryField{{Name: "scope", Type: "string"}}, fleetFields...)
	rows := [][]any{
		{"system", "laptop", ago(3 * time.Hour), ago(time.Hour), 42.0, false, revB, "24.05.1", "annotated", 0.0, nil},
		{"home-manager", "alice@laptop (hm)", ago(time.Hour), ago(time.Hour), 12.0, false, revA, "25.11+abcd1234", "annotated", 0.0, nil},
		{"home-manager", "bob@laptop (hm)", ago(2 * time.Hour), ago(2 * time.Hour), 3.0, false, revB, "25.11", "annotated", 0.0, nil},
		{"system", "web-1", ago(5 * time.Hour), ago(5 * time.Hour), 7.0, false, revA, "24.05.1", "annotated", 0.0, nil},
	}
	setTable(s, fields, rows)
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 4 || f.Newest != revB || f.NewestHome != revA {
		t.Fatalf("%d rows, newest %q, newest Home Manager %q", len(f.Hosts), f.Newest, f.NewestHome)
	}
	behind := map[string]bool{}
	for _, h := range f.Hosts {
		behind[h.Host+" "+h.Scope] = h.Behind
	}
	for row, want := range map[string]bool{"laptop system": false, "alice@laptop (hm) home-manager": false, "bob@laptop (hm) home-manager": true, "web-1 system": true} {
		if got, ok := behind[row]; !ok || got != want {
			t.Errorf("%s: behind %v (listed %v), want %v", row, got, ok, want)
		}
	}
	var out bytes.Buffer
	if err := f.Render(&out, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nalice@laptop (hm)  12 ") || !strings.Contains(out.String(), "\nlaptop             42 ") {
		t.Errorf("rendered:\n%s", out.String())
	}
}

// TestFleetDeployHealth: a host whose current deploy failed units is
// marked "deploy failed", in red, before its other notes; one whose only
// failed units were failed before it, "degraded", in yellow; a healthy
// host, or one whose health is unknown, is not marked. The query that
// asks binds on a new user's columns (the fake judges it).
func TestFleetDeployHealth(t *testing.T) {
	s := fleetFake(t)
	fields := append(append([]fakeaxiom.QueryField(nil), fleetFields...), fakeaxiom.QueryField{Name: "health", Type: "string"})
	setTable(s, fields, [][]any{
		{"web-1", ago(time.Hour), ago(time.Hour), 43.0, false, revB, "24.05.1", "annotated", 0.0, nil, "failed"},
		{"web-2", ago(2 * time.Hour), ago(2 * time.Hour), 18.0, false, revB, "24.05.1", "annotated", 0.0, nil, "healthy"},
		{"db-1", ago(3 * time.Hour), ago(3 * time.Hour), 7.0, false, revA, "24.05.0", "annotated", 0.0, nil, "degraded"},
		{"mac-1", ago(4 * time.Hour), ago(4 * time.Hour), 3.0, false, revB, "25.05", "annotated", 0.0, nil, "unknown"},
	})
	f, err := QueryFleet(context.Background(), viewClient(t, s), "deploy-traces", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(FleetQuery("deploy-traces"), "['attributes.custom']['deploy.health']") {
		t.Error("the fleet query does not read deploy.health")
	}
	got := map[string]Host{}
	for _, h := range f.Hosts {
		got[h.Host] = h
	}
	for host, want := range map[string][2]bool{"web-1": {true, false}, "web-2": {false, false}, "db-1": {false, true}, "mac-1": {false, false}} {
		if h := got[host]; h.DeployFailed != want[0] || h.Degraded != want[1] {
			t.Errorf("%s (health %q): deploy failed %v, degraded %v; want %v", host, h.Health, h.DeployFailed, h.Degraded, want)
		}
	}
	var out bytes.Buffer
	if err := f.Render(&out, false); err != nil {
		t.Fatal(err)
	}
	want := `HOST   GEN  REVISION  LABEL    DEPLOYED                   OUTCOME
web-1  43   bbbbbbb   24.05.1  2026-03-14 14:00 (1h ago)  annotated  deploy failed
web-2  18   bbbbbbb   24.05.1  2026-03-14 13:00 (2h ago)  annotated
db-1   7    aaaaaaa   24.05.0  2026-03-14 12:00 (3h ago)  annotated  degraded, behind
mac-1  3    bbbbbbb   25.05    2026-03-14 11:00 (4h ago)  annotated
`
	if out.String() != want {
		t.Errorf("rendered\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	f.Render(&out, true)
	if !strings.Contains(out.String(), red+"deploy failed"+reset) || !strings.Contains(out.String(), yellow+"degraded, behind"+reset) {
		t.Errorf("colour:\n%q", out.String())
	}
	out.Reset()
	if err := f.JSON(&out); err != nil {
		t.Fatal(err)
	}
	var back struct{ Hosts []map[string]any }
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Hosts) != 4 {
		t.Fatalf("JSON %s: %v", out.String(), err)
	}
	if h := back.Hosts[0]; h["host"] != "web-1" || h["health"] != "failed" || h["deployFailed"] != true || h["degraded"] != false {
		t.Errorf("JSON web-1: %v", h)
	}
	if h := back.Hosts[1]; h["health"] != "healthy" || h["deployFailed"] != false {
		t.Errorf("JSON web-2: %v", h)
	}
}
