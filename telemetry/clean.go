package telemetry

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Every span leaves the process through cleanExporter, whatever made it
// (this command, the Axiom SDK, otelhttp) and whatever its values hold: a
// kernel host name or a nixos-version label with escapes and line breaks, a
// spool file edited by hand, an answer from Axiom, the text of an error.
// Each string value, of the resource, the span, its events and links, and
// the status message, is made one safe line of at most maxExported bytes,
// the one way that everything shown is (internal/text).

// maxExported bounds a string value exported.
const maxExported = 1024

// cleanExporter cleans what it exports, and marks its errors as export
// errors, so that only they are logged as spans not exported.
type cleanExporter struct{ sdktrace.SpanExporter }

func (e cleanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	resources := map[*resource.Resource]*resource.Resource{}
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		r, ok := resources[s.Resource()]
		if !ok {
			r = cleanResource(s.Resource())
			resources[s.Resource()] = r
		}
		out[i] = cleanSpan{s, r}
	}
	if err := e.SpanExporter.ExportSpans(ctx, out); err != nil {
		return exportError{err}
	}
	return nil
}

// exportError is an error of the exporter.
type exportError struct{ err error }

func (e exportError) Error() string { return e.err.Error() }
func (e exportError) Unwrap() error { return e.err }

// cleanSpan is a span as exported: the SDK's, with its values cleaned.
type cleanSpan struct {
	sdktrace.ReadOnlySpan
	resource *resource.Resource
}

func (s cleanSpan) Resource() *resource.Resource { return s.resource }
func (s cleanSpan) Attributes() []attribute.KeyValue {
	return cleanAttributes(s.ReadOnlySpan.Attributes())
}

func (s cleanSpan) Status() sdktrace.Status {
	st := s.ReadOnlySpan.Status()
	st.Description = text.Field(st.Description, maxExported)
	return st
}

func (s cleanSpan) Events() []sdktrace.Event {
	return cleanEach(s.ReadOnlySpan.Events(), func(e *sdktrace.Event) *[]attribute.KeyValue { return &e.Attributes })
}

func (s cleanSpan) Links() []sdktrace.Link {
	return cleanEach(s.ReadOnlySpan.Links(), func(l *sdktrace.Link) *[]attribute.KeyValue { return &l.Attributes })
}

// cleanEach is a copy of xs with the attributes of each cleaned.
func cleanEach[T any](xs []T, attributes func(*T) *[]attribute.KeyValue) []T {
	out := slices.Clone(xs)
	for i := range out {
		kvs := attributes(&out[i])
		*kvs = cleanAttributes(*kvs)
	}
	return out
}

func cleanResource(r *resource.Resource) *resource.Resource {
	if r == nil {
		return nil
	}
	return resource.NewWithAttributes(r.SchemaURL(), cleanAttributes(r.Attributes())...)
}

// cleanAttributes is kvs with each string, and each string of a list,
// cleaned; the other kinds pass as they are.
func cleanAttributes(kvs []attribute.KeyValue) []attribute.KeyValue {
	if len(kvs) == 0 {
		return kvs
	}
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		switch kv.Value.Type() {
		case attribute.STRING:
			kv.Value = attribute.StringValue(text.Field(kv.Value.AsString(), maxExported))
		case attribute.STRINGSLICE:
			list := kv.Value.AsStringSlice()
			for j, v := range list {
				list[j] = text.Field(v, maxExported)
			}
			kv.Value = attribute.StringSliceValue(list)
		}
		out[i] = kv
	}
	return out
}
