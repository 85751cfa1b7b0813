// Package telemetry traces a run: it sets up the OpenTelemetry tracer
// provider, exports spans over OTLP/HTTP to an Axiom traces dataset (or where
// the OTEL_* variables say), and takes a parent trace from TRACEPARENT.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"go.opentelemetry.io/contrib/propagators/envcar"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of the spans, unless OTEL_SERVICE_NAME
// says otherwise.
const ServiceName = "axiom-deploy-annotation"

// SchemaURL is the semantic conventions version the spans declare: 1.37,
// the newest that Axiom maps to its columns.
const SchemaURL = semconv.SchemaURL

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL, https://api.axiom.co/v1/traces.
	// Empty turns export off. OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT, where set, take its place.
	Endpoint string
	// Dataset is the Axiom traces dataset, sent as X-Axiom-Dataset. Axiom
	// gets nothing without it, unless OTEL_EXPORTER_OTLP_HEADERS says what
	// to send; another endpoint (a collector) needs none.
	Dataset string
	// Token goes as a bearer token, with Dataset and OrgID, only over https
	// or to this machine.
	Token string
	// OrgID goes with a personal token.
	OrgID string
	// Version is service.version; Host is host.name; Environment is
	// deployment.environment.name, left out when empty.
	Version     string
	Host        string
	Environment string
	// Timeout bounds one export, unless OTEL_EXPORTER_OTLP_TIMEOUT is set.
	Timeout time.Duration
}

// Provider is the run's tracer provider.
type Provider struct {
	tp   *sdktrace.TracerProvider
	dest Destination
	// Exporting says whether spans leave the process.
	Exporting bool
}

// Destination says where spans go, or why they go nowhere.
func (p *Provider) Destination() Destination { return p.dest }

// testProxy, when set, is the exporter's HTTP proxy: tests route exports
// meant for another machine to a receiver on loopback.
var testProxy otlptracehttp.HTTPTransportProxyFunc

// Setup makes the tracer provider and installs it globally, so that the
// Axiom SDK's and otelhttp's spans join the run's trace. A problem with the
// destination is a warning; where spans go, and why nothing is exported,
// is logged at debug level.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	// The SDK's own messages go to our log rather than its stderr logger.
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
	attrs := []attribute.KeyValue{
		semconv.ServiceName(ServiceName),
		semconv.ServiceVersion(cfg.Version),
		semconv.HostName(cfg.Host),
	}
	attrs = append(attrs, system{fsys: os.DirFS("/"), goos: runtime.GOOS, goarch: runtime.GOARCH, ioreg: runIoreg}.attributes(ctx)...)
	if cfg.Environment != "" {
		attrs = append(attrs, semconv.DeploymentEnvironmentName(cfg.Environment))
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp, dest, err := exporter(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
		log.Debug("traces go to " + dest.String())
	} else {
		log.Debug("traces not exported", "why", dest.Why)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("traces not exported", "err", err)
	}))
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Provider{tp: tp, dest: dest, Exporting: exp != nil}, nil
}

func exporter(ctx context.Context, cfg Config, log *slog.Logger) (sdktrace.SpanExporter, Destination, error) {
	if v, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))); v {
		return nil, Destination{Why: "OTEL_SDK_DISABLED is true"}, nil
	}
	p := decide(cfg, os.Getenv)
	if p.warn != "" {
		log.Warn(p.warn)
	}
	if p.info != "" {
		log.Info(p.info)
	}
	if p.dest.Why != "" {
		return nil, p.dest, nil
	}
	// The endpoint goes as an option even when the environment chose it,
	// so that what was decided above is what is used.
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(p.dest.Endpoint)}
	if p.headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(p.headers))
	}
	if cfg.Timeout > 0 && envName(os.Getenv, "TRACES_TIMEOUT", "TIMEOUT") == "" {
		opts = append(opts, otlptracehttp.WithTimeout(cfg.Timeout))
	}
	if testProxy != nil {
		opts = append(opts, otlptracehttp.WithProxy(testProxy))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, Destination{}, fmt.Errorf("traces exporter: %w", err)
	}
	return exp, p.dest, nil
}

// Tracer is the run's tracer.
func (p *Provider) Tracer() trace.Tracer {
	return p.tp.Tracer("github.com/bdsqqq/axiom-deploy-annotation", trace.WithSchemaURL(semconv.SchemaURL))
}

// Shutdown exports what is left, within ctx's deadline.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.tp.Shutdown(ctx)
}

// FromEnvironment returns ctx with the trace context that TRACEPARENT and
// TRACESTATE carry, so that a deploy tool can group many hosts' runs under
// one trace.
func FromEnvironment(ctx context.Context) context.Context {
	return propagation.TraceContext{}.Extract(ctx, &envcar.Carrier{})
}
