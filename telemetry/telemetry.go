// Package telemetry traces a run: it sets up the OpenTelemetry tracer
// provider, exports spans over OTLP/HTTP to an Axiom traces dataset (or where
// the OTEL_* variables say), and takes a parent trace from TRACEPARENT.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"go.opentelemetry.io/contrib/propagators/envcar"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
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
	// StateDir is the state directory, whose traces/ holds the spans of
	// runs that may not wait on the network. With Defer set, this run's
	// spans are written there instead of sent (and none are kept when the
	// directory is missing); otherwise what is there is sent at Shutdown,
	// after this run's own.
	StateDir string
	Defer    bool
}

// Provider is the run's tracer provider.
type Provider struct {
	tp   *sdktrace.TracerProvider
	dest Destination
	log  *slog.Logger
	// spooled sends what earlier runs spooled in spoolDir; nil when this
	// run spools, or exports nothing.
	spooled  otlptrace.Client
	stateDir string
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
	// The SDK's own messages go to our log rather than its stderr logger,
	// from the first: reading the resource may report already.
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
	handler := errorHandler(log)
	otel.SetErrorHandler(handler)
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
	if errors.Is(err, resource.ErrPartialResource) {
		handler.Handle(err)
	} else if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp, client, dest, err := exporter(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	switch {
	case exp != nil && cfg.Defer:
		exp, client = spoolExporter(cfg.StateDir, log), nil
		opts = append(opts, sdktrace.WithBatcher(cleanExporter{exp}))
		log.Debug("traces spooled in " + filepath.Join(cfg.StateDir, traceDir) + ", for the next delivery to send to " + dest.String())
	case exp != nil:
		opts = append(opts, sdktrace.WithBatcher(cleanExporter{exp}))
		log.Debug("traces go to " + dest.String())
	default:
		log.Debug("traces not exported", "why", dest.Why)
	}
	if cfg.StateDir == "" {
		client = nil
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Provider{tp: tp, dest: dest, log: log, spooled: client, stateDir: cfg.StateDir, Exporting: exp != nil}, nil
}

// errorHandler logs what the SDK reports, each for what it is: an export
// that failed; a malformed OTEL_RESOURCE_ATTRIBUTES, whose well-formed
// attributes still apply (once, though the SDK reads it more than once); or
// anything else the SDK could not do.
func errorHandler(log *slog.Logger) otel.ErrorHandler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return otel.ErrorHandlerFunc(func(err error) {
		var export exportError
		var escape url.EscapeError
		switch {
		case errors.As(err, &export):
			log.Warn("traces not exported", "err", err)
		case errors.Is(err, resource.ErrPartialResource) || errors.As(err, &escape):
			key := err.Error()
			if errors.Is(err, resource.ErrPartialResource) {
				key = "partial"
			}
			mu.Lock()
			first := !seen[key]
			seen[key] = true
			mu.Unlock()
			if first {
				log.Warn("OTEL_RESOURCE_ATTRIBUTES is malformed: an entry without \"=\" is left out, a bad %-escape kept as written; the rest applies", "err", err)
			}
		default:
			log.Warn("OpenTelemetry SDK", "err", err)
		}
	})
}

// exporter is the span exporter for the destination decided, with a client
// of its own for sending spooled spans the same way.
func exporter(ctx context.Context, cfg Config, log *slog.Logger) (sdktrace.SpanExporter, otlptrace.Client, Destination, error) {
	if v, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))); v {
		return nil, nil, Destination{Why: "OTEL_SDK_DISABLED is true"}, nil
	}
	p := decide(cfg, os.Getenv)
	if p.warn != "" {
		log.Warn(p.warn)
	}
	if p.info != "" {
		log.Info(p.info)
	}
	if p.dest.Why != "" {
		return nil, nil, p.dest, nil
	}
	// The endpoint goes as an option even when the environment chose it,
	// so that what was decided above is what is used.
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(p.dest.Endpoint)}
	if p.headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(p.headers))
	}
	opts = append(opts, otlptracehttp.WithHTTPClient(exportClient(os.Getenv, cfg.Timeout, log)))
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, Destination{}, fmt.Errorf("traces exporter: %w", err)
	}
	return exp, otlptracehttp.NewClient(opts...), p.dest, nil
}

// Tracer is the run's tracer.
func (p *Provider) Tracer() trace.Tracer {
	return p.tp.Tracer("github.com/bdsqqq/axiom-deploy-annotation", trace.WithSchemaURL(semconv.SchemaURL))
}

// Shutdown exports what is left, then what earlier runs spooled, within
// ctx's deadline.
func (p *Provider) Shutdown(ctx context.Context) error {
	return errors.Join(p.tp.Shutdown(ctx), p.sendSpooled(ctx))
}

// Export sends the spans ended so far, then what earlier runs spooled,
// within ctx's deadline; spans ended later go at the next Export or at
// Shutdown.
func (p *Provider) Export(ctx context.Context) error {
	return errors.Join(p.tp.ForceFlush(ctx), p.sendSpooled(ctx))
}

func (p *Provider) sendSpooled(ctx context.Context) error {
	if p.spooled == nil || ctx.Err() != nil {
		return nil
	}
	n, err := sendSpooled(ctx, p.stateDir, p.spooled, p.log)
	if n > 0 {
		p.log.Debug("spooled traces sent", "exports", n)
	}
	return err
}

// FromEnvironment returns ctx with the trace context that TRACEPARENT and
// TRACESTATE carry, so that a deploy tool can group many hosts' runs under
// one trace.
func FromEnvironment(ctx context.Context) context.Context {
	return propagation.TraceContext{}.Extract(ctx, &envcar.Carrier{})
}
