package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// setupHardening gives a script an OTLP/HTTP receiver on loopback at $OTLP,
// and at $REDIRECT an https server that redirects (its certificate in
// $REDIRECT_CA).
func setupHardening(env *testscript.Env) error {
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
}

// hardeningCmds are the test script commands about what leaves the
// process:
//
//	span NAME KEY RE         a span NAME received at $OTLP has attribute KEY
//	                         (@KEY: resource attribute) matching RE; with !,
//	                         none has, though some span NAME came
//	redirected METHOD PATH   the https server at $REDIRECT answered METHOD
//	                         PATH with a 307 to plain http on the same host,
//	                         and that listener saw no request at all
var hardeningCmds = map[string]scriptCmd{
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
