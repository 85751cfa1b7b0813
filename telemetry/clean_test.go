package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Every string exported, whoever set it, is one safe line of at most
// maxExported bytes: resource, span and event attributes, lists, and
// the status message.
func TestExportCleans(t *testing.T) {
	clearEnv(t)
	r := fakeotlp.New()
	defer r.Close()
	const hostile = "a\x1b]0;title\x07\r\n\u202eb\u200b"
	const clean = "a ]0;title    b"
	p, err := Setup(context.Background(), Config{Endpoint: r.Endpoint(), Host: hostile, Timeout: time.Second}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "run")
	span.SetAttributes(
		attribute.String("s", hostile),
		attribute.StringSlice("list", []string{hostile, "ok"}),
		attribute.String("long", strings.Repeat("x", 5000)),
		attribute.Int("n", 7),
	)
	span.AddEvent("e", trace.WithAttributes(attribute.String("e", hostile)))
	span.SetStatus(codes.Error, hostile)
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got *fakeotlp.Span
	for _, s := range r.Spans() {
		if s.Name == "run" {
			got = &s
		}
	}
	if got == nil {
		t.Fatal("no span run")
	}
	for name, v := range map[string]string{
		"resource host.name": got.ResourceAttr("host.name"),
		"s":                  got.Attr("s"),
		"list":               got.Attrs["list"].GetArrayValue().GetValues()[0].GetStringValue(),
		"event":              got.Events[0].Attributes[0].GetValue().GetStringValue(),
		"status":             got.Status.GetMessage(),
	} {
		if v != clean {
			t.Errorf("%s = %q, want %q", name, v, clean)
		}
	}
	if l := got.Attr("long"); len(l) > maxExported || !strings.HasSuffix(l, "…") {
		t.Errorf("a long value went as %d bytes", len(l))
	}
	if got.Attr("n") != "7" || got.Attrs["list"].GetArrayValue().GetValues()[1].GetStringValue() != "ok" {
		t.Errorf("values that need no cleaning changed: %v", got.Attrs)
	}
	if !text.IsLine(got.ResourceAttr("host.name")) {
		t.Errorf("host.name %q", got.ResourceAttr("host.name"))
	}
}

// What the exporter returns is an export error; nothing else is.
func TestExportErrorMarked(t *testing.T) {
	var ee exportError
	if !errors.As(cleanExporter{failing{}}.ExportSpans(context.Background(), nil), &ee) {
		t.Error("an exporter's error is not marked")
	}
}

type failing struct{}

func (failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return errors.New("down") }
func (failing) Shutdown(context.Context) error                             { return nil }

// FuzzCleanAttributes: every string exported is one line of at most
// maxExported bytes; other kinds pass untouched.
func FuzzCleanAttributes(f *testing.F) {
	f.Add("a\x1b]0;x\x07\nb", "\u202e", int64(3))
	f.Fuzz(func(t *testing.T, s, u string, n int64) {
		in := []attribute.KeyValue{attribute.String("s", s), attribute.StringSlice("l", []string{s, u}), attribute.Int64("n", n)}
		out := cleanAttributes(in)
		for _, v := range []string{out[0].Value.AsString(), out[1].Value.AsStringSlice()[0], out[1].Value.AsStringSlice()[1]} {
			if !text.IsLine(v) || len(v) > maxExported {
				t.Fatalf("cleaned %q", v)
			}
		}
		if out[2].Value.AsInt64() != n || in[0].Value.AsString() != s {
			t.Fatalf("changed what needs no cleaning, or the input")
		}
	})
}
