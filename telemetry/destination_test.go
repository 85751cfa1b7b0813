package telemetry

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

func TestDecide(t *testing.T) {
	const axiom = "https://api.axiom.co/v1/traces"
	full := Config{Endpoint: axiom, Dataset: "tr", Token: "xaat-secret", OrgID: "org"}
	withToken := map[string]string{"X-Axiom-Dataset": "tr", "Authorization": "Bearer xaat-secret", "X-Axiom-Org-Id": "org"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		env     map[string]string
		want    string // the endpoint in force, or "" for none
		source  string
		headers map[string]string // nil: the environment's
		why     string            // part of why nothing is exported
		warn    bool
	}{
		{name: "config", cfg: full, want: axiom, source: "config", headers: withToken},
		{name: "edge", cfg: Config{Endpoint: "https://eu-central-1.aws.edge.axiom.co/v1/traces", Dataset: "tr", Token: "xaat-secret", OrgID: "org"},
			want: "https://eu-central-1.aws.edge.axiom.co/v1/traces", source: "config", headers: withToken},
		{name: "no endpoint", cfg: Config{Dataset: "tr"}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example"}, why: "no traces endpoint"},
		{name: "axiom without a dataset", cfg: Config{Endpoint: axiom, Token: "xaat-secret"}, why: "no traces dataset", warn: true},
		{name: "collector without a dataset", cfg: Config{Endpoint: "https://collector.example:4318/v1/traces"},
			want: "https://collector.example:4318/v1/traces", source: "config", headers: map[string]string{}},
		{name: "loopback collector", cfg: Config{Endpoint: "http://127.0.0.1:4318/v1/traces", Token: "xaat-secret"},
			want: "http://127.0.0.1:4318/v1/traces", source: "config", headers: map[string]string{"Authorization": "Bearer xaat-secret"}},
		{name: "userinfo is dropped", cfg: Config{Endpoint: "https://u:pw@collector.example/v1/traces?q=1#f"},
			want: "https://collector.example/v1/traces", source: "config", headers: map[string]string{}},
		{name: "ENDPOINT is a base", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example:4318/otlp"},
			want: "https://c.example:4318/otlp/v1/traces", source: "OTEL_EXPORTER_OTLP_ENDPOINT", headers: withToken},
		{name: "TRACES_ENDPOINT as it is", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://a.example", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b.example"},
			want: "https://b.example/", source: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", headers: withToken},
		{name: "plain http elsewhere gets no token", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.0.2.2:4318"},
			want: "http://192.0.2.2:4318/v1/traces", source: "OTEL_EXPORTER_OTLP_ENDPOINT", headers: map[string]string{}},
		{name: "plain http by name gets no token", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector.example/v1/traces"},
			want: "http://collector.example/v1/traces", source: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", headers: map[string]string{}},
		{name: "INSECURE turns https into http", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://192.0.2.2:4318", "OTEL_EXPORTER_OTLP_INSECURE": "TRUE"},
			want: "http://192.0.2.2:4318/v1/traces", source: "OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_INSECURE", headers: map[string]string{}},
		{name: "TRACES_INSECURE turns https into http", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://192.0.2.2:4318/v1/traces", "OTEL_EXPORTER_OTLP_INSECURE": "false", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"},
			want: "http://192.0.2.2:4318/v1/traces", source: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_INSECURE and OTEL_EXPORTER_OTLP_TRACES_INSECURE", headers: map[string]string{}},
		{name: "INSECURE=false turns http into https", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.0.2.2:4318", "OTEL_EXPORTER_OTLP_INSECURE": "false"},
			want: "https://192.0.2.2:4318/v1/traces", source: "OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_INSECURE", headers: withToken},
		{name: "INSECURE leaves the configured endpoint alone", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true"},
			want: axiom, source: "config", headers: withToken},
		{name: "plain http to Axiom", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://api.axiom.co"}, why: "plain http", warn: true},
		{name: "environment headers", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example", "OTEL_EXPORTER_OTLP_HEADERS": "x-key=1"},
			want: "https://c.example/v1/traces", source: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "malformed ENDPOINT", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::not a url"}, why: "OTEL_EXPORTER_OTLP_ENDPOINT is not an http or https URL", warn: true},
		{name: "ENDPOINT without a scheme", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, why: "OTEL_EXPORTER_OTLP_ENDPOINT is not", warn: true},
		{name: "malformed ENDPOINT beside a good TRACES_ENDPOINT", cfg: full,
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://u:pw@[bad", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b.example"}, why: "OTEL_EXPORTER_OTLP_ENDPOINT is not", warn: true},
		{name: "malformed TRACES_ENDPOINT", cfg: full, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://b.example"}, why: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := decide(tc.cfg, func(k string) string { return tc.env[k] })
			if p.dest.Endpoint != tc.want || p.dest.Source != tc.source {
				t.Errorf("endpoint %q from %q, want %q from %q", p.dest.Endpoint, p.dest.Source, tc.want, tc.source)
			}
			if !strings.Contains(p.dest.Why, tc.why) || (tc.why == "") != (p.dest.Why == "") {
				t.Errorf("why %q, want %q", p.dest.Why, tc.why)
			}
			if (p.warn != "") != tc.warn {
				t.Errorf("warning %q, want one: %v", p.warn, tc.warn)
			}
			if tc.why == "" && (tc.headers == nil) != (p.headers == nil) || len(p.headers) != len(tc.headers) {
				t.Errorf("headers %v, want %v", p.headers, tc.headers)
			}
			for k, v := range tc.headers {
				if p.headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, p.headers[k], v)
				}
			}
			if p.dest.Token != (tc.headers["Authorization"] != "") {
				t.Errorf("destination says token %v, headers %v", p.dest.Token, p.headers)
			}
			for _, s := range []string{p.warn, p.info, p.dest.String()} {
				if strings.Contains(s, "pw") || strings.Contains(s, "secret") {
					t.Errorf("a secret in %q", s)
				}
			}
		})
	}
}

// logTo is a debug-level logger writing to buf.
func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// viaProxy routes the exporter through r as an HTTP proxy, so that an
// endpoint on another machine is reached on loopback.
func viaProxy(t *testing.T, r *fakeotlp.Receiver) {
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	testProxy = func(*http.Request) (*url.URL, error) { return u, nil }
	t.Cleanup(func() { testProxy = nil })
}

// The Axiom token goes with the spans only where the endpoint in force is
// https or on this machine, whichever variable put it there.
func TestTokenOnlyWhereSafe(t *testing.T) {
	const token = "xaat-secret"
	axiomHeaders := []string{"Authorization", "X-Axiom-Dataset", "X-Axiom-Org-Id"}

	t.Run("plain http elsewhere", func(t *testing.T) {
		for name, env := range map[string]map[string]string{
			"ENDPOINT":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://u:pw@192.0.2.2:4318"},
			"TRACES_ENDPOINT": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://192.0.2.2:4318/v1/traces"},
			"INSECURE":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://192.0.2.2:4318", "OTEL_EXPORTER_OTLP_INSECURE": "true"},
			"TRACES_INSECURE": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://192.0.2.2:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"},
			"TIMEOUT beside":  {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.0.2.2:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "5000"},
		} {
			t.Run(name, func(t *testing.T) {
				clearEnv(t)
				for k, v := range env {
					t.Setenv(k, v)
				}
				r := fakeotlp.New()
				defer r.Close()
				viaProxy(t, r)
				var logs bytes.Buffer
				p := exportLogged(t, Config{Endpoint: r.Endpoint(), Dataset: "tr", Token: token, OrgID: "org"}, logTo(&logs))
				if !p.Exporting || len(r.Headers()) != 1 {
					t.Fatalf("exporting %v, %d exports, bad %v; log:\n%s", p.Exporting, len(r.Headers()), r.Bad(), logs.String())
				}
				if h := r.Hosts()[0]; h != "192.0.2.2:4318" {
					t.Errorf("export went to %s, want the environment's endpoint", h)
				}
				for _, k := range axiomHeaders {
					if v := r.Headers()[0].Get(k); v != "" {
						t.Errorf("%s: %s sent over plain http to another machine", k, v)
					}
				}
				if d := p.Destination(); d.Token || d.Dataset != "" || !strings.HasPrefix(d.Endpoint, "http://192.0.2.2:4318/") {
					t.Errorf("destination %+v", d)
				}
				out := logs.String()
				if !strings.Contains(out, "level=INFO msg=\"traces go to http://192.0.2.2:4318/v1/traces, as OTEL_EXPORTER_OTLP_") {
					t.Errorf("no line saying which endpoint is in force:\n%s", out)
				}
				if strings.Contains(out, "pw") || strings.Contains(out, token) {
					t.Errorf("a secret in the log:\n%s", out)
				}
			})
		}
	})

	t.Run("https", func(t *testing.T) {
		clearEnv(t)
		r := fakeotlp.NewTLS()
		defer r.Close()
		t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", r.Certificate().Raw))
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.Endpoint())
		p := export(t, Config{Endpoint: "https://api.axiom.co/v1/traces", Dataset: "tr", Token: token, OrgID: "org"})
		if !p.Exporting || len(r.Headers()) != 1 {
			t.Fatalf("exporting %v, %d exports", p.Exporting, len(r.Headers()))
		}
		if h := r.Headers()[0]; h.Get("Authorization") != "Bearer "+token || h.Get("X-Axiom-Dataset") != "tr" || h.Get("X-Axiom-Org-Id") != "org" {
			t.Errorf("headers %v, want the token, dataset and org over https", h)
		}
	})

	t.Run("plain http on this machine", func(t *testing.T) {
		clearEnv(t)
		r := fakeotlp.New()
		defer r.Close()
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.URL)
		p := export(t, Config{Endpoint: "https://api.axiom.co/v1/traces", Dataset: "tr", Token: token})
		if !p.Exporting || len(r.Headers()) != 1 || r.Headers()[0].Get("Authorization") != "Bearer "+token {
			t.Fatalf("exporting %v, headers %v", p.Exporting, r.Headers())
		}
	})
}

// A malformed endpoint in the environment stops export with one clear
// warning; the exporter would have sent spans and the token to
// https://localhost:4318.
func TestMalformedEnvironmentEndpoint(t *testing.T) {
	for _, raw := range []string{"::not a url", "localhost:4318", "http://u:pw@[::1"} {
		t.Run(raw, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", raw)
			r := fakeotlp.New()
			defer r.Close()
			var logs bytes.Buffer
			p := exportLogged(t, Config{Endpoint: r.Endpoint(), Dataset: "tr", Token: "xaat-secret"}, slog.New(slog.NewTextHandler(&logs, nil)))
			if p.Exporting || len(r.Spans()) != 0 {
				t.Fatalf("exporting %v, %d spans", p.Exporting, len(r.Spans()))
			}
			out := logs.String()
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "OTEL_EXPORTER_OTLP_ENDPOINT is not an http or https URL") {
				t.Errorf("want one warning naming the variable, got:\n%s", out)
			}
			if strings.Contains(out, "pw") {
				t.Errorf("userinfo in the log:\n%s", out)
			}
		})
	}
}

// A collector needs no dataset; Axiom does, and says so once.
func TestDataset(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	p := export(t, Config{Endpoint: r.Endpoint(), Host: "web1"})
	if !p.Exporting || len(r.Spans()) != 1 || r.Headers()[0].Get("X-Axiom-Dataset") != "" {
		t.Fatalf("to a collector without a dataset: exporting %v, %d spans", p.Exporting, len(r.Spans()))
	}

	var logs bytes.Buffer
	p = exportLogged(t, Config{Endpoint: "https://api.axiom.co/v1/traces", Token: "xaat-secret"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if p.Exporting {
		t.Fatal("exporting to Axiom without a dataset")
	}
	if out := logs.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no traces dataset") {
		t.Errorf("want one warning, got:\n%s", out)
	}
}

// At debug level the log says where spans go, or why they go nowhere,
// never the token.
func TestDebugSaysWhere(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	var logs bytes.Buffer
	p := exportLogged(t, Config{Endpoint: r.Endpoint(), Dataset: "tr", Token: "xaat-secret"}, logTo(&logs))
	want := r.Endpoint() + ", dataset tr, with the Axiom token"
	if got := p.Destination().String(); got != want {
		t.Errorf("destination %q, want %q", got, want)
	}
	if out := logs.String(); !strings.Contains(out, "level=DEBUG msg=\"traces go to "+want+"\"") || strings.Contains(out, "xaat-secret") {
		t.Errorf("log:\n%s", out)
	}

	logs.Reset()
	p = exportLogged(t, Config{Dataset: "tr"}, logTo(&logs))
	if got := p.Destination().String(); got != "nowhere: no traces endpoint" {
		t.Errorf("destination %q", got)
	}
	if out := logs.String(); !strings.Contains(out, `level=DEBUG msg="traces not exported" why="no traces endpoint"`) {
		t.Errorf("log:\n%s", out)
	}
}
