package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"axiom-deploy-annotate": main,
	})
}

// testToken is the token the fake Axiom accepts in the scripts.
const testToken = "xaat-script-0000-token"

// TestScripts runs testdata/*.txtar: the command's behaviour as a user sees
// it. Each script gets a fake Axiom on loopback at $API, and these commands:
//
//	status N PROG ARGS...    run PROG and expect exit status N
//	annotations N            the fake holds N annotations
//	annotation I FIELD RE    annotation I's field (title, description, url,
//	                         type, datasets) matches RE
//	fail STATUS N [BODY]     the fake answers the next N requests with STATUS
//	                         (and BODY, JSON)
//	requests N               the fake saw N requests
//	holdlock DIR             hold DIR's delivery lock, as a run delivering does,
//	                         until the script ends
//	spoolid VAR DIR          set $VAR to the id of the first entry in DIR's spool
//	dashboards N [VERSION]   the fake holds N dashboards, the first at VERSION
//	deny PERMISSION          the fake's token lacks PERMISSION (dashboards, query…)
//	fleettable DATASET [empty|hostile|failed|degraded|N]
//	                         APL queries of DATASET answer two hosts (no
//	                         rows, hosts whose values hold terminal escapes,
//	                         web-1's deploy failed or degraded, or N hosts),
//	                         one row each; the fake judges each
//	                         query with Kusto's analyzer against a new
//	                         user's columns (needs the condition [kusto])
//	partial DATASET          the fake's answers for DATASET say they are partial
//	huge SIZE                the fake answers the next request with a body of
//	                         SIZE bytes
//	lines N                  the last command's stdout has N lines
//
// and the commands of monitorCmds and hardeningCmds (with $OTLP, $REDIRECT
// and the condition [root]).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			fake := fakeaxiom.New(testToken)
			env.Defer(fake.Close)
			env.Values["axiom"] = fake
			env.Setenv("API", fake.Endpoint())
			env.Setenv("TOKEN", testToken)
			env.Setenv("AXIOM_TOKEN", "")
			env.Setenv("OTEL_SDK_DISABLED", "")
			return setupHardening(env)
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			if cond != "kusto" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			// Kusto's analyzer runs where node and npm are: CI has them.
			_, err := kusto.Available()
			if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci && err != nil {
				return false, err
			}
			return err == nil, nil
		},
		Cmds: with(with(monitorCmds, hardeningCmds), map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: status N PROG ARGS...")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("status: %v", err)
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("status: %v", err)
				}
				if got != want {
					ts.Fatalf("exit status %d, want %d", got, want)
				}
			},
			"fail": func(ts *testscript.TestScript, neg bool, args []string) {
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				status, _ := strconv.Atoi(args[0])
				n, _ := strconv.Atoi(args[1])
				var body []byte
				if len(args) > 2 {
					body = []byte(args[2])
				}
				for range n {
					fake.Fail(fakeaxiom.Fault{Status: status, Body: body})
				}
			},
			"requests": func(ts *testscript.TestScript, neg bool, args []string) {
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				want, _ := strconv.Atoi(args[0])
				if got := len(fake.Requests()); got != want {
					ts.Fatalf("fake Axiom saw %d requests, want %d", got, want)
				}
			},
			"holdlock": func(ts *testscript.TestScript, neg bool, args []string) {
				s, err := outbox.Open(ts.MkAbs(args[0]), nil)
				if err != nil {
					ts.Fatalf("holdlock: %v", err)
				}
				if err := s.LockDelivery(context.Background(), false); err != nil {
					ts.Fatalf("holdlock: %v", err)
				}
				ts.Defer(func() { s.Close() })
			},
			"spoolid": func(ts *testscript.TestScript, neg bool, args []string) {
				des, err := os.ReadDir(filepath.Join(ts.MkAbs(args[1]), "spool"))
				if err != nil {
					ts.Fatalf("spoolid: %v", err)
				}
				for _, de := range des {
					if name, ok := strings.CutSuffix(de.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
						ts.Setenv(args[0], name)
						return
					}
				}
				ts.Fatalf("spoolid: no entry in %s", args[1])
			},
			"dashboards": func(ts *testscript.TestScript, neg bool, args []string) {
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				all := fake.Dashboards()
				want, _ := strconv.Atoi(args[0])
				if len(all) != want {
					ts.Fatalf("fake Axiom holds %d dashboards, want %d", len(all), want)
				}
				if len(args) > 1 {
					v, _ := strconv.ParseInt(args[1], 10, 64)
					if all[0].Version != v {
						ts.Fatalf("dashboard at version %d, want %d", all[0].Version, v)
					}
				}
			},
			"deny": func(ts *testscript.TestScript, neg bool, args []string) {
				ts.Value("axiom").(*fakeaxiom.Server).Deny(args...)
			},
			"fleettable": func(ts *testscript.TestScript, neg bool, args []string) {
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				an, err := kusto.Available()
				if err != nil {
					ts.Fatalf("fleettable: %v", err)
				}
				fake.SetQueryColumns(args[0], axiomcols.FirstDeploy(), an)
				kind := ""
				if len(args) > 1 {
					kind = args[1]
				}
				setFleetTable(fake, args[0], kind)
			},
			"partial": func(ts *testscript.TestScript, neg bool, args []string) {
				ts.Value("axiom").(*fakeaxiom.Server).SetQueryPartial(args[0], true)
			},
			"huge": func(ts *testscript.TestScript, neg bool, args []string) {
				size, _ := strconv.ParseInt(args[0], 10, 64)
				ts.Value("axiom").(*fakeaxiom.Server).Fail(fakeaxiom.Fault{Huge: size})
			},
			"lines": func(ts *testscript.TestScript, neg bool, args []string) {
				want, _ := strconv.Atoi(args[0])
				if got := strings.Count(ts.ReadFile("stdout"), "\n"); got != want {
					ts.Fatalf("stdout has %d lines, want %d", got, want)
				}
			},
			"annotations": func(ts *testscript.TestScript, neg bool, args []string) {
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				want, _ := strconv.Atoi(args[0])
				if got := len(fake.Annotations()); got != want {
					ts.Fatalf("fake Axiom holds %d annotations, want %d", got, want)
				}
			},
			"annotation": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: annotation I FIELD REGEXP")
				}
				fake := ts.Value("axiom").(*fakeaxiom.Server)
				i, _ := strconv.Atoi(args[0])
				all := fake.Annotations()
				if i >= len(all) {
					ts.Fatalf("no annotation %d among %d", i, len(all))
				}
				a := all[i]
				var got string
				switch args[1] {
				case "title":
					got = a.Title
				case "description":
					got = a.Description
				case "url":
					got = a.URL
				case "type":
					got = a.Type
				case "datasets":
					got = strings.Join(a.Datasets, ",")
				default:
					ts.Fatalf("unknown field %q", args[1])
				}
				re, err := regexp.Compile(args[2])
				if err != nil {
					ts.Fatalf("%v", err)
				}
				if re.MatchString(got) == neg {
					ts.Fatalf("annotation %d %s = %q; match %q: %v", i, args[1], got, args[2], !neg)
				}
			},
		}),
	})
}

// setFleetTable makes the fake answer the fleet query of dataset, one row
// a host: two hosts, none ("empty"), two whose values hold terminal escapes
// ("hostile"), web-1's current deploy failed or degraded ("failed",
// "degraded"), or as many as kind says.
func setFleetTable(fake *fakeaxiom.Server, dataset, kind string) {
	fields := []fakeaxiom.QueryField{
		{Name: "host", Type: "string"}, {Name: "deployed", Type: "datetime"}, {Name: "last_run", Type: "datetime"},
		{Name: "generation", Type: "integer"}, {Name: "test_activation", Type: "boolean"}, {Name: "revision", Type: "string"},
		{Name: "label", Type: "string"}, {Name: "outcome", Type: "string"}, {Name: "spooled", Type: "integer"}, {Name: "message", Type: "string"},
		{Name: "health", Type: "string"},
	}
	at := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339Nano) }
	rows := [][]any{
		{"web-1", at(2 * time.Hour), at(2 * time.Hour), 42.0, false, "bbbbbbb2222222222222222222222222222222222", "24.05.1", "annotated", 0.0, nil, "healthy"},
		{"web-2", at(72 * time.Hour), at(time.Hour), 17.0, false, "aaaaaaa1111111111111111111111111111111111", "24.05.0", "spooled", 1.0, "axiom unavailable", nil},
	}
	switch n, err := strconv.Atoi(kind); {
	case kind == "empty":
		rows = nil
	case kind == "failed" || kind == "degraded":
		rows[0][10] = kind
	case kind == "hostile":
		rows[0][0] = "web\x1b]0;owned\x07-1"
		rows[0][3] = 1e300
		rows[0][5] = "\x1b[2J\x1b[H" + rows[0][5].(string)
		rows[0][7] = "\x1b]8;;https://example.invalid\x1b\\annotated\x1b]8;;\x1b\\"
		rows[1][6] = "24.05\r\t.0"
	case err == nil:
		rows = nil
		for i := range n {
			rows = append(rows, []any{fmt.Sprintf("host-%05d", i), at(time.Duration(i+1) * time.Minute), at(time.Minute), float64(i + 1), false,
				"bbbbbbb2222222222222222222222222222222222", "24.05.1", "annotated", 0.0, nil, "healthy"})
		}
	}
	columns := make([][]any, len(fields))
	for i := range fields {
		columns[i] = []any{}
		for _, r := range rows {
			columns[i] = append(columns[i], r[i])
		}
	}
	fake.SetQueryResult(dataset, fields, columns...)
}
