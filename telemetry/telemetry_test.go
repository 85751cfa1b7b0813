package telemetry

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clearEnv empties the OTEL_* variables a developer's shell may carry.
func clearEnv(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "TRACEPARENT", "TRACESTATE"} {
		t.Setenv(k, "")
	}
	for _, k := range []string{"ENDPOINT", "HEADERS", "INSECURE", "TIMEOUT", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY", "COMPRESSION", "PROTOCOL"} {
		t.Setenv(envPrefix+k, "")
		t.Setenv(envPrefix+"TRACES_"+k, "")
	}
}

func export(t *testing.T, cfg Config) *Provider {
	t.Helper()
	return exportLogged(t, cfg, quiet())
}

// exportLogged sets up with log, ends one span and shuts down.
func exportLogged(t *testing.T, cfg Config, log *slog.Logger) *Provider {
	t.Helper()
	p, err := Setup(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "run")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExportToAxiom(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod")
	p := export(t, Config{Endpoint: r.Endpoint(), Dataset: "traces", Token: "xapt-1", OrgID: "org-1", Version: "1.0", Host: "web1", Timeout: time.Second})
	if !p.Exporting {
		t.Fatal("not exporting with an endpoint and a dataset")
	}
	spans, headers := r.Spans(), r.Headers()
	if len(spans) != 1 || len(headers) != 1 {
		t.Fatalf("%d spans in %d exports", len(spans), len(headers))
	}
	h := headers[0]
	if h.Get("X-Axiom-Dataset") != "traces" || h.Get("Authorization") != "Bearer xapt-1" || h.Get("X-Axiom-Org-Id") != "org-1" {
		t.Errorf("headers: %v", h)
	}
	for k, want := range map[string]string{"service.name": ServiceName, "service.version": "1.0", "host.name": "web1", "deployment.environment.name": "prod",
		"host.arch": map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH], "os.type": runtime.GOOS} {
		if got := spans[0].ResourceAttr(k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	if spans[0].ResourceAttr("os.name") == "" {
		t.Error("no os.name")
	}
	if res, span := r.Keys(); !slices.Contains(res, "os.type") || !slices.Contains(res, "host.arch") || len(span) != 0 {
		t.Errorf("keys: resource %v, span %v", res, span)
	}
	if got := spans[0].SchemaURL; got != "https://opentelemetry.io/schemas/1.37.0" {
		t.Errorf("resource schema URL %q, want semantic conventions 1.37's", got)
	}
}

func TestEnvironmentAttribute(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	export(t, Config{Endpoint: r.Endpoint(), Dataset: "traces", Host: "web1", Environment: "staging"})
	if s := r.Spans(); len(s) != 1 || s[0].ResourceAttr("deployment.environment.name") != "staging" {
		t.Fatalf("spans %v: want deployment.environment.name staging", s)
	}
	// Unset, there is none: not an empty one.
	r2 := fakeotlp.New()
	defer r2.Close()
	export(t, Config{Endpoint: r2.Endpoint(), Dataset: "traces", Host: "web1"})
	if s := r2.Spans(); len(s) != 1 || s[0].Resource["deployment.environment.name"] != nil {
		t.Fatalf("spans %v: want no deployment.environment.name", s)
	}
}

func TestEnvironmentWins(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc")
	t.Setenv("OTEL_SERVICE_NAME", "deploys")
	// The configured endpoint is dead; the environment's is used, with its
	// headers, and no dataset is needed.
	p := export(t, Config{Endpoint: "http://127.0.0.1:1/v1/traces", Host: "web1"})
	if !p.Exporting || len(r.Spans()) != 1 {
		t.Fatalf("exporting %v, %d spans", p.Exporting, len(r.Spans()))
	}
	if h := r.Headers()[0]; h.Get("X-Honeycomb-Team") != "abc" || h.Get("X-Axiom-Dataset") != "" {
		t.Errorf("headers: %v", h)
	}
	if got := r.Spans()[0].ResourceAttr("service.name"); got != "deploys" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", got)
	}
}

func TestExportOff(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg Config
		env string
	}{
		"no endpoint":       {cfg: Config{Dataset: "d"}},
		"no dataset":        {cfg: Config{Endpoint: "https://api.axiom.co/v1/traces"}},
		"OTEL_SDK_DISABLED": {cfg: Config{Endpoint: "https://api.axiom.co/v1/traces", Dataset: "d"}, env: "true"},
	} {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_SDK_DISABLED", tc.env)
			p, err := Setup(context.Background(), tc.cfg, quiet())
			if err != nil {
				t.Fatal(err)
			}
			if p.Exporting {
				t.Error("exporting")
			}
			// Spans still get ids, so that logs can name the run.
			_, span := p.Tracer().Start(context.Background(), "run")
			if !span.SpanContext().IsValid() {
				t.Error("no span context without export")
			}
			span.End()
		})
	}
}

func TestFromEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	t.Setenv("TRACESTATE", "vendor=x")
	sc := trace.SpanContextFromContext(FromEnvironment(context.Background()))
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsRemote() || sc.TraceState().Get("vendor") != "x" {
		t.Errorf("span context from TRACEPARENT: %+v", sc)
	}
	t.Setenv("TRACEPARENT", "garbage")
	if sc := trace.SpanContextFromContext(FromEnvironment(context.Background())); sc.IsValid() {
		t.Errorf("garbage TRACEPARENT gave %+v", sc)
	}
}
