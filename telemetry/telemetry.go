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
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/envcar"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of the spans, unless OTEL_SERVICE_NAME
// says otherwise.
const ServiceName = "axiom-deploy-annotation"

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL, https://api.axiom.co/v1/traces.
	// Empty turns export off. OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT, where set, take its place.
	Endpoint string
	// Dataset is the Axiom traces dataset, sent as X-Axiom-Dataset. Without
	// it nothing is exported, unless OTEL_EXPORTER_OTLP_HEADERS says what to
	// send.
	Dataset string
	Token   string
	// OrgID goes with a personal token.
	OrgID string
	// Version is service.version; Host is host.name.
	Version string
	Host    string
	// Timeout bounds one export, unless OTEL_EXPORTER_OTLP_TIMEOUT is set.
	Timeout time.Duration
}

// Provider is the run's tracer provider.
type Provider struct {
	tp *sdktrace.TracerProvider
	// Exporting says whether spans leave the process.
	Exporting bool
}

// Setup makes the tracer provider and installs it globally, so that the
// Axiom SDK's and otelhttp's spans join the run's trace. Why nothing is
// exported, when nothing is, goes to log.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(
			semconv.ServiceName(ServiceName),
			semconv.ServiceVersion(cfg.Version),
			semconv.HostName(cfg.Host),
		),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp, why, err := exporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else {
		log.Debug("traces not exported", "why", why)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("traces not exported", "err", err)
	}))
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Provider{tp: tp, Exporting: exp != nil}, nil
}

func envSet(names ...string) bool {
	for _, n := range names {
		if os.Getenv(n) != "" {
			return true
		}
	}
	return false
}

func exporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, string, error) {
	if v, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))); v {
		return nil, "OTEL_SDK_DISABLED is true", nil
	}
	if cfg.Endpoint == "" {
		return nil, "no traces endpoint", nil
	}
	var opts []otlptracehttp.Option
	if !envSet("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	}
	if !envSet("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") {
		if cfg.Dataset == "" {
			return nil, "no traces dataset", nil
		}
		h := map[string]string{"X-Axiom-Dataset": cfg.Dataset}
		if cfg.Token != "" {
			h["Authorization"] = "Bearer " + cfg.Token
		}
		if cfg.OrgID != "" {
			h["X-Axiom-Org-Id"] = cfg.OrgID
		}
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	if cfg.Timeout > 0 && !envSet("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
		opts = append(opts, otlptracehttp.WithTimeout(cfg.Timeout))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("traces exporter: %w", err)
	}
	return exp, "", nil
}

// Tracer is the run's tracer.
func (p *Provider) Tracer() trace.Tracer {
	return p.tp.Tracer("github.com/bdsqqq/axiom-deploy-annotation")
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
