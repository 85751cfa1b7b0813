package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// traceFiles lists the exports in the trace spool of the state directory.
func traceFiles(t *testing.T, state string) []string {
	t.Helper()
	dir, err := openSpool(state)
	if err != nil || dir == nil {
		t.Fatalf("trace spool: %v, %v", dir, err)
	}
	defer dir.Close()
	files, err := spooledTraces(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// spoolSpan writes one span named name through the spool exporter.
func spoolSpan(t *testing.T, state, name string) trace.Span {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spoolExporter(state, slog.New(slog.DiscardHandler))))
	_, span := tp.Tracer("test").Start(context.Background(), name, trace.WithTimestamp(time.Now().Add(-time.Hour)))
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return span
}

// TestSpoolThenSend: spans written to the spool by one run reach the
// receiver, whole, when a later run sends them; nothing leaves the first
// run, and a corrupt file is set aside without stopping the rest.
func TestSpoolThenSend(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	state := t.TempDir()

	span := spoolSpan(t, state, "run")
	if n := len(recv.Spans()); n != 0 {
		t.Fatalf("the spooling run sent %d spans", n)
	}
	if files := traceFiles(t, state); len(files) != 1 {
		t.Fatalf("spool holds %v; want one export", files)
	}
	dir := filepath.Join(state, traceDir)
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.pb"), []byte("not protobuf \xff"), 0o600); err != nil {
		t.Fatal(err)
	}

	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(recv.Endpoint()))
	sent, err := sendSpooled(context.Background(), state, client, slog.New(slog.DiscardHandler))
	if err != nil || sent != 1 {
		t.Fatalf("sent %d, %v; want 1", sent, err)
	}
	spans := recv.Spans()
	if len(spans) != 1 || spans[0].Name != "run" || spans[0].TraceID != span.SpanContext().TraceID().String() {
		t.Fatalf("received %+v, want the spooled run span", spans)
	}
	if left := traceFiles(t, state); len(left) != 0 {
		t.Errorf("%d exports left after sending", len(left))
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000001.pb.corrupt")); err != nil {
		t.Errorf("corrupt export not set aside: %v", err)
	}
}

// TestSpoolWithoutStateDir: a run whose state directory is missing (one
// that recorded nothing) makes none to keep its spans, and a sending run
// finds nothing to send.
func TestSpoolWithoutStateDir(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if err := (spoolClient{state, slog.New(slog.DiscardHandler)}).UploadTraces(context.Background(), nil); err != nil {
		t.Errorf("upload without a state directory: %v, want the spans dropped", err)
	}
	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL("http://127.0.0.1:1/v1/traces"))
	if n, err := sendSpooled(context.Background(), state, client, slog.New(slog.DiscardHandler)); n != 0 || err != nil {
		t.Errorf("sending without a state directory: %d, %v", n, err)
	}
	if _, err := os.Lstat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state directory was made: %v", err)
	}
}

// TestSpoolLinkRefused: a traces/ that is a link to a directory elsewhere
// is neither written, nor sent from, nor tidied: the files there stay as
// they are, and the error says why.
func TestSpoolLinkRefused(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	state, outside := t.TempDir(), t.TempDir()
	spoolSpan(t, outside, "outside")
	elsewhere := filepath.Join(outside, traceDir)
	if err := os.WriteFile(filepath.Join(elsewhere, ".00000000000000000001.pb.123456"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(elsewhere)
	if err := os.Symlink(elsewhere, filepath.Join(state, traceDir)); err != nil {
		t.Fatal(err)
	}

	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(recv.Endpoint()))
	_, err := sendSpooled(context.Background(), state, client, slog.New(slog.DiscardHandler))
	if !errors.Is(err, statedir.ErrLink) || !strings.Contains(err.Error(), filepath.Join(state, traceDir)) {
		t.Errorf("sending through the link: %v, want an error naming it", err)
	}
	if err := (spoolClient{state, slog.New(slog.DiscardHandler)}).UploadTraces(context.Background(), nil); !errors.Is(err, statedir.ErrLink) {
		t.Errorf("spooling through the link: %v, want refused", err)
	}
	if n := len(recv.Spans()); n != 0 {
		t.Errorf("%d spans sent from behind the link", n)
	}
	after, _ := os.ReadDir(elsewhere)
	if len(after) != len(before) {
		t.Errorf("files behind the link: %v, were %v", after, before)
	}
	for i := range before {
		if i < len(after) && after[i].Name() != before[i].Name() {
			t.Errorf("%s behind the link became %s", before[i].Name(), after[i].Name())
		}
	}
}

// TestSpoolTemporaryFilesRemoved: what a run killed while writing its spans
// left behind is removed by the next run that sends the spool, but only
// while no run is writing (writers hold the spool's lock shared): a file
// being written is never taken.
func TestSpoolTemporaryFilesRemoved(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	state := t.TempDir()
	dir := filepath.Join(state, traceDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, ".00000000000000000001.pb.123456")
	if err := os.WriteFile(temp, []byte("half an export"), 0o600); err != nil {
		t.Fatal(err)
	}
	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(recv.Endpoint()))
	send := func() {
		t.Helper()
		if _, err := sendSpooled(context.Background(), state, client, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}

	// A writer at work: its lock held shared.
	f, err := os.OpenFile(filepath.Join(dir, traceLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	send()
	if _, err := os.Lstat(temp); err != nil {
		t.Errorf("a file being written was removed: %v", err)
	}

	// The writer gone, killed: what it left is removed.
	f.Close()
	send()
	if _, err := os.Lstat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an abandoned temporary file is still there: %v", err)
	}
}

// heldClient is an otlptrace.Client whose uploads wait for release, after
// saying that they started.
type heldClient struct {
	started, release chan struct{}
}

func (heldClient) Start(context.Context) error { return nil }
func (heldClient) Stop(context.Context) error  { return nil }
func (c heldClient) UploadTraces(context.Context, []*tracepb.ResourceSpans) error {
	c.started <- struct{}{}
	<-c.release
	return nil
}

// TestSpoolClaimNotTakenBack: an export that waited long in the spool,
// claimed by a run that is sending it, is not taken back and sent again
// by another run: what counts is how long ago it was claimed.
func TestSpoolClaimNotTakenBack(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	state := t.TempDir()
	spoolSpan(t, state, "run")
	files := traceFiles(t, state)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(state, traceDir, files[0]), old, old); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	held := heldClient{make(chan struct{}), make(chan struct{})}
	done := make(chan int)
	go func() {
		n, _ := sendSpooled(context.Background(), state, held, log)
		done <- n
	}()
	<-held.started
	client := otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(recv.Endpoint()))
	if n, err := sendSpooled(context.Background(), state, client, log); n != 0 || err != nil {
		t.Errorf("the second run sent %d, %v: the first run's claim was taken back", n, err)
	}
	close(held.release)
	if n := <-done; n != 1 {
		t.Errorf("the first run sent %d, want 1", n)
	}
	if n := len(recv.Spans()); n != 0 {
		t.Errorf("%d spans sent twice", n)
	}
}

// TestExport: Export sends the spans ended so far and what earlier runs
// spooled, and the provider goes on: a span ended later goes at the next.
func TestExport(t *testing.T) {
	clearEnv(t)
	recv := fakeotlp.New()
	defer recv.Close()
	state := t.TempDir()
	spoolSpan(t, state, "record") // an earlier run's

	p, err := Setup(context.Background(), Config{Endpoint: recv.Endpoint(), StateDir: state, Timeout: time.Second}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, want := range [][]string{{"record", "run"}, {"late", "record", "run"}} {
		_, span := p.Tracer().Start(context.Background(), []string{"run", "late"}[i])
		span.End()
		if err := p.Export(ctx); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range recv.Spans() {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Fatalf("export %d: received %q, want %q", i+1, names, want)
		}
	}
	if files := traceFiles(t, state); len(files) != 0 {
		t.Errorf("trace spool %v after sending", files)
	}
}
