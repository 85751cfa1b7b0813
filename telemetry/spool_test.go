package telemetry

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// TestSpoolThenSend: spans written to the spool by one run reach the
// receiver, whole, when a later run sends them; nothing leaves the first
// run, and a corrupt file is set aside without stopping the rest.
func TestSpoolThenSend(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	dir := filepath.Join(t.TempDir(), "traces")

	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spoolExporter(dir)))
	start := time.Now().Add(-time.Hour)
	_, span := tp.Tracer("test").Start(context.Background(), "run", trace.WithTimestamp(start))
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(recv.Spans()); n != 0 {
		t.Fatalf("the spooling run sent %d spans", n)
	}
	files, err := spooledTraces(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("spool holds %v, %v; want one export", files, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.pb"), []byte("not protobuf \xff"), 0o600); err != nil {
		t.Fatal(err)
	}

	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(recv.Endpoint()))
	sent, err := sendSpooled(context.Background(), dir, client, slog.New(slog.DiscardHandler))
	if err != nil || sent != 1 {
		t.Fatalf("sent %d, %v; want 1", sent, err)
	}
	spans := recv.Spans()
	if len(spans) != 1 || spans[0].Name != "run" || spans[0].TraceID != span.SpanContext().TraceID().String() {
		t.Fatalf("received %+v, want the spooled run span", spans)
	}
	if left, _ := spooledTraces(dir); len(left) != 0 {
		t.Errorf("%d exports left after sending", len(left))
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000001.pb.corrupt")); err != nil {
		t.Errorf("corrupt export not set aside: %v", err)
	}
}

// TestExport: Export sends the spans ended so far and what earlier runs
// spooled, and the provider goes on: a span ended later goes at the next.
func TestExport(t *testing.T) {
	clearEnv(t)
	recv := fakeotlp.New()
	defer recv.Close()
	dir := filepath.Join(t.TempDir(), "traces")

	// An earlier run spooled its spans.
	spooler, err := Setup(context.Background(), Config{Endpoint: recv.Endpoint(), SpoolDir: dir, Defer: true}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	_, span := spooler.Tracer().Start(context.Background(), "record")
	span.End()
	if err := spooler.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	p, err := Setup(context.Background(), Config{Endpoint: recv.Endpoint(), SpoolDir: dir, Timeout: time.Second}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, want := range [][]string{{"record", "run"}, {"record", "run", "late"}} {
		_, span = p.Tracer().Start(context.Background(), want[len(want)-1])
		span.End()
		if err := p.Export(ctx); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range recv.Spans() {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("export %d: received %q, want %q", i+1, names, want)
		}
	}
	if files, _ := spooledTraces(dir); len(files) != 0 {
		t.Errorf("spool %v after sending", files)
	}
}
