package main

import (
	"fmt"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// ourSpans are the names of the spans the command makes.
var ourSpans = []string{vocab.SpanRun, vocab.SpanDiscover, vocab.SpanDeliver, vocab.SpanDiff, vocab.SpanLookup, vocab.SpanRollout}

// checkVocabulary holds what runs exported to the vocabulary: each
// attribute of our spans, of their events and of the resource is declared
// there, on that span, of that type; the spans beside ours carry only
// semantic conventions it knows; and each declared attribute was exported
// on each span it names, but for those in unseen ("span key", or
// "resource key"), which say why the runs could not show them.
func checkVocabulary(t *testing.T, spans []fakeotlp.Span, unseen map[string]string) {
	t.Helper()
	seen, said := map[string]bool{}, map[string]bool{}
	check := func(where, key string, v *commonpb.AnyValue, declared bool, typ attribute.Type) {
		seen[where+" "+key] = true
		problem := ""
		switch {
		case !declared && slices.Contains(vocab.Beside, attribute.Key(key)):
		case !declared:
			problem = fmt.Sprintf("%s carries %s, which telemetry/vocab does not declare there", where, key)
		case typeOf(v) != typ:
			problem = fmt.Sprintf("%s carries %s as %s; telemetry/vocab says %s", where, key, typeOf(v), typ)
		}
		if problem != "" && !said[problem] {
			said[problem] = true
			t.Error(problem)
		}
	}
	for _, s := range spans {
		for k, v := range s.Resource {
			a, ok := vocab.Lookup(attribute.Key(k), true)
			check("resource", k, v, ok, a.Type)
		}
		ours := slices.Contains(ourSpans, s.Name)
		for k, v := range s.Attrs {
			a, ok := vocab.Lookup(attribute.Key(k), false)
			check(s.Name, k, v, ok && ours && slices.Contains(a.Spans, s.Name), a.Type)
		}
		for _, e := range s.Events {
			for _, kv := range e.Attributes {
				a, ok := eventAttribute(kv.Key, e.Name)
				check(fmt.Sprintf("event %s of %s", e.Name, s.Name), kv.Key, kv.Value, ok && slices.Contains(a.Spans, s.Name), a.Type)
			}
		}
	}
	for _, a := range vocab.Attributes {
		var where []string
		switch {
		case a.Resource:
			where = []string{"resource " + string(a.Key)}
		case a.Event != "":
			for _, s := range a.Spans {
				where = append(where, fmt.Sprintf("event %s of %s %s", a.Event, s, a.Key))
			}
		default:
			for _, s := range a.Spans {
				where = append(where, s+" "+string(a.Key))
			}
		}
		for _, w := range where {
			if !seen[w] && unseen[w] == "" {
				t.Errorf("telemetry/vocab declares %s, which no run exported", w)
			}
		}
	}
}

func eventAttribute(key, event string) (vocab.Attribute, bool) {
	for _, a := range vocab.Attributes {
		if string(a.Key) == key && a.Event == event {
			return a, true
		}
	}
	return vocab.Attribute{}, false
}

// typeOf is the attribute type an exported value has.
func typeOf(v *commonpb.AnyValue) attribute.Type {
	switch v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return attribute.STRING
	case *commonpb.AnyValue_IntValue:
		return attribute.INT64
	case *commonpb.AnyValue_BoolValue:
		return attribute.BOOL
	case *commonpb.AnyValue_DoubleValue:
		return attribute.FLOAT64
	case *commonpb.AnyValue_ArrayValue:
		return attribute.STRINGSLICE
	}
	return attribute.EMPTY
}

// Every mode but check-config, which makes no span, names itself in
// deploy.mode as telemetry/vocab declares it, and the vocabulary has no
// other.
func TestModesInTheVocabulary(t *testing.T) {
	var spanning []vocab.Mode
	for _, m := range modes {
		if m.name != modeCheckConfig {
			spanning = append(spanning, m.name)
		}
	}
	if !slices.Equal(spanning, vocab.Modes) {
		t.Errorf("the modes that make a span are %q; telemetry/vocab declares %q", spanning, vocab.Modes)
	}
}
