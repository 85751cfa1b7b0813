package axiomcols

import (
	"maps"
	"slices"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func num(n int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
}

// Spans give the fixed columns, a column for each semantic convention
// (typed), the custom maps for the rest, and the optional columns only
// when some span has what they hold.
func TestOf(t *testing.T) {
	rs := []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			kv("service.name", str("x")), kv("host.name", str("web-1")), kv("team", str("ops")),
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{Name: "run", Attributes: []*commonpb.KeyValue{kv("deployment.id", str("d")), kv("nix.generation", num(4)), kv("process.exit.code", num(3))}},
			{Name: "discover", ParentSpanId: []byte{1}, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}},
		}}},
	}}
	want := maps.Clone(Fixed)
	maps.Copy(want, Columns{
		"service.name": "string", "resource.host.name": "string", "resource.custom.team": "string",
		"attributes.deployment.id": "string", "attributes.custom": "dynamic", "attributes.process.exit.code": "long",
		"parent_span_id": "string", "status.code": "string",
	})
	if got := Of(rs); !maps.Equal(got, want) {
		t.Errorf("columns\n%v\nwant\n%v", got, want)
	}
}

// A dataset that has seen everything has every optional column and each
// semantic convention in both places.
func TestAll(t *testing.T) {
	c := All(map[string]string{"host.name": "string"}, map[string]string{"deployment.id": "string", "nix.label": "string"})
	for _, col := range []string{"status.message", "events", "links", "resource.host.name", "resource.custom.host.name", "attributes.deployment.id", "attributes.custom"} {
		if _, ok := c[col]; !ok {
			t.Errorf("no %s in %v", col, c)
		}
	}
	if _, ok := c["attributes.nix.label"]; ok {
		t.Error("a custom attribute as a column")
	}
	if c.WithDuration("long")["duration"] != "long" || c["duration"] != "timespan" {
		t.Error("WithDuration")
	}
	if len(FirstDeploy()) == 0 {
		t.Error("no first-deploy columns")
	}
}

// The reserved keys and those the runs carry are apart, and together are
// every span attribute the vocabulary declares (but those of events).
func TestReserved(t *testing.T) {
	_, span := Vocabulary()
	reserved := Reserved()
	for _, k := range reserved {
		if _, ok := span[k]; ok {
			t.Errorf("%s is reserved and carried", k)
		}
	}
	for _, a := range vocab.Attributes {
		_, carried := span[string(a.Key)]
		if !a.Resource && a.Event == "" && !carried && !slices.Contains(reserved, string(a.Key)) {
			t.Errorf("%s is neither carried nor reserved", a.Key)
		}
	}
}
