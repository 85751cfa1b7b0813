package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
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
//	fleettable DATASET [empty]
//	                         APL queries of DATASET answer two hosts' runs
//	                         (or no rows)
//	span NAME KEY RE         a span NAME received at $OTLP (an OTLP/HTTP
//	                         receiver on loopback) has attribute KEY (@KEY:
//	                         resource attribute) matching RE; with !, none has
//
// and the condition [root].
//
//	redirected METHOD PATH   the https server at $REDIRECT (whose certificate
//	                         is $REDIRECT_CA) answered METHOD PATH with a 307
//	                         to plain http on the same host, and that
//	                         listener saw no request at all
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
			otlp := fakeotlp.New()
			env.Defer(otlp.Close)
			env.Values["otlp"] = otlp
			env.Setenv("OTLP", otlp.Endpoint())
			rd, err := newRedirector(env.WorkDir)
			if err != nil {
				return err
			}
			env.Defer(rd.close)
			env.Values["redirector"] = rd
			env.Setenv("REDIRECT", rd.tls.URL)
			env.Setenv("REDIRECT_CA", rd.ca)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"span": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: span NAME KEY RE")
				}
				re, err := regexp.Compile(args[2])
				if err != nil {
					ts.Fatalf("%v", err)
				}
				var seen []string
				for _, sp := range ts.Value("otlp").(*fakeotlp.Receiver).Spans() {
					if sp.Name != args[0] {
						continue
					}
					v := sp.Attr(args[1])
					if key, ok := strings.CutPrefix(args[1], "@"); ok {
						v = sp.ResourceAttr(key)
					}
					seen = append(seen, v)
				}
				if len(seen) == 0 {
					ts.Fatalf("no span %s received", args[0])
				}
				if slices.ContainsFunc(seen, re.MatchString) == neg {
					ts.Fatalf("spans %s have %s %q; match %q: %v", args[0], args[1], seen, args[2], !neg)
				}
			},
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
				s, err := annotator.OpenStore(ts.MkAbs(args[0]), nil)
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
				fields := []fakeaxiom.QueryField{
					{Name: "host", Type: "string"}, {Name: "deployment", Type: "string"},
					{Name: "deployed", Type: "datetime"}, {Name: "last_run", Type: "datetime"}, {Name: "_time", Type: "datetime"},
					{Name: "generation", Type: "integer"}, {Name: "revision", Type: "string"}, {Name: "label", Type: "string"},
					{Name: "outcome", Type: "string"}, {Name: "spooled", Type: "integer"}, {Name: "message", Type: "string"},
				}
				at := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339Nano) }
				rows := [][]any{
					{"web-1", "d1", at(2 * time.Hour), at(2 * time.Hour), at(2 * time.Hour), 42.0, "bbbbbbb2222222222222222222222222222222222", "24.05.1", "annotated", 0.0, nil},
					{"web-2", "d2", at(72 * time.Hour), at(time.Hour), at(time.Hour), 17.0, "aaaaaaa1111111111111111111111111111111111", "24.05.0", "spooled", 1.0, "axiom unavailable"},
				}
				if len(args) > 1 && args[1] == "empty" {
					rows = nil
				}
				columns := make([][]any, len(fields))
				for i := range fields {
					columns[i] = []any{}
					for _, r := range rows {
						columns[i] = append(columns[i], r[i])
					}
				}
				fake.SetQueryResult(args[0], fields, columns...)
			},
			"redirected": func(ts *testscript.TestScript, neg bool, args []string) {
				rd := ts.Value("redirector").(*redirector)
				if plain := rd.seen(&rd.plain); len(plain) != 0 {
					ts.Fatalf("the plain http listener got %q", plain)
				}
				want := strings.Join(args, " ")
				if got := rd.seen(&rd.redirected); slices.Contains(got, want) == neg {
					ts.Fatalf("the https server got %q; %q among them: %v", got, want, !neg)
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
		},
	})
}

// redirector is an https server on loopback that answers every request
// with a 307 to the same path on a plain http listener of the same host,
// and that listener; each keeps what it saw ("METHOD PATH", and for the
// plain one whether the token came along).
type redirector struct {
	tls, http         *httptest.Server
	ca                string
	mu                sync.Mutex
	redirected, plain []string
}

func newRedirector(dir string) (*redirector, error) {
	rd := &redirector{}
	rd.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd.add(&rd.plain, r.Method+" "+r.URL.Path+" Authorization: "+r.Header.Get("Authorization"))
	}))
	rd.tls = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd.add(&rd.redirected, r.Method+" "+r.URL.Path)
		http.Redirect(w, r, rd.http.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	rd.tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	rd.tls.StartTLS()
	rd.ca = filepath.Join(dir, ".redirector-ca.pem")
	return rd, os.WriteFile(rd.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rd.tls.Certificate().Raw}), 0o600)
}

func (rd *redirector) add(to *[]string, s string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	*to = append(*to, s)
}

func (rd *redirector) seen(what *[]string) []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return slices.Clone(*what)
}

func (rd *redirector) close() {
	rd.tls.Close()
	rd.http.Close()
}
