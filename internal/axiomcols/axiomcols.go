// Package axiomcols is what Axiom makes of OTLP spans in an OpenTelemetry
// traces dataset: the columns, with their Kusto types, a dataset has once
// it has ingested some spans, each attribute in the place vocab says Axiom
// keeps it. A column exists only once some span carried it, and a query
// naming a column the dataset lacks fails: the dashboard's and fleet's
// queries are checked against these columns.
package axiomcols

import (
	_ "embed"
	"encoding/json"
	"maps"

	"go.opentelemetry.io/otel/attribute"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Vocabulary is the attributes the runs carry, by the vocabulary: the
// resource's and the spans' keys, each with the Kusto type of its column.
// Reserved attributes, which no run sets yet, and those of span events are
// left out.
func Vocabulary() (resource, span map[string]string) {
	resource, span = map[string]string{}, map[string]string{}
	for _, a := range vocab.Attributes {
		switch {
		case a.Resource:
			resource[string(a.Key)] = kustoTypeOf(a.Type)
		case len(a.Spans) > 0 && a.Event == "":
			span[string(a.Key)] = kustoTypeOf(a.Type)
		}
	}
	return resource, span
}

// Reserved is the keys of the span attributes the vocabulary declares but
// no run sets yet. A query may read one where Axiom will keep it (a key of
// the custom map reads null until some span carries it); once the
// vocabulary names the spans that carry it, it is no longer reserved, and
// what real runs export must show it.
func Reserved() []string {
	var keys []string
	for _, a := range vocab.Attributes {
		if !a.Resource && len(a.Spans) == 0 && a.Event == "" {
			keys = append(keys, string(a.Key))
		}
	}
	return keys
}

func kustoTypeOf(t attribute.Type) string {
	switch t {
	case attribute.STRING:
		return "string"
	case attribute.BOOL:
		return "bool"
	case attribute.INT64:
		return "long"
	case attribute.FLOAT64:
		return "real"
	}
	return "dynamic"
}

// Fixed are the columns every span gives a traces dataset, with their
// Kusto types. Axiom's documentation gives duration as a timespan; its CLI
// guide shows integer nanoseconds (see WithDuration).
var Fixed = Columns{
	"_time": "datetime", "_sysTime": "datetime", "trace_id": "string", "span_id": "string",
	"name": "string", "kind": "string", "duration": "timespan", "error": "bool",
}

// Optional are the columns only some spans give: a parent, a status code
// or message, events, links.
var Optional = Columns{
	"parent_span_id": "string", "status.code": "string", "status.message": "string", "events": "dynamic", "links": "dynamic",
}

// Columns are a dataset's columns: name to Kusto type (string, long, real,
// bool, datetime, timespan, dynamic).
type Columns map[string]string

// WithDuration is c with duration of another type: "long" for integer
// nanoseconds.
func (c Columns) WithDuration(typ string) Columns {
	d := maps.Clone(c)
	d["duration"] = typ
	return d
}

// Of is the columns of a dataset that has ingested these spans and nothing
// else: the fixed ones, those only some spans give (a parent, a status
// code or message, events, links), and a column for each attribute where
// Axiom keeps it.
func Of(rs []*tracepb.ResourceSpans) Columns {
	c := maps.Clone(Fixed)
	for _, r := range rs {
		for _, kv := range r.GetResource().GetAttributes() {
			c[vocab.ResourcePlace(kv.Key).Column] = kustoType(kv.Value)
		}
		for _, ss := range r.ScopeSpans {
			for _, s := range ss.Spans {
				spanColumns(c, s)
			}
		}
	}
	return c
}

func spanColumns(c Columns, s *tracepb.Span) {
	if len(s.ParentSpanId) > 0 {
		c["parent_span_id"] = "string"
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		c["status.code"] = "string"
	}
	if s.Status.GetMessage() != "" {
		c["status.message"] = "string"
	}
	if len(s.Events) > 0 {
		c["events"] = "dynamic"
	}
	if len(s.Links) > 0 {
		c["links"] = "dynamic"
	}
	for _, kv := range s.Attributes {
		if p := vocab.SpanPlace(kv.Key); p.Key != "" {
			c[p.Column] = "dynamic"
		} else {
			c[p.Column] = kustoType(kv.Value)
		}
	}
}

// All is the columns of a dataset that has seen everything: the fixed and
// optional span columns, and each attribute (key to Kusto type) in the
// place Axiom keeps it, a semantic convention also in the place it keeps
// attributes it does not know (where one of development stability may
// land).
func All(resource, span map[string]string) Columns {
	c := maps.Clone(Fixed)
	maps.Copy(c, Optional)
	c["attributes.custom"] = "dynamic"
	for k, typ := range resource {
		c[vocab.ResourcePlace(k).Column] = typ
		c["resource.custom."+k] = typ
	}
	for k, typ := range span {
		if p := vocab.SpanPlace(k); p.Key == "" {
			c[p.Column] = typ
		}
	}
	return c
}

func kustoType(v *commonpb.AnyValue) string {
	switch v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return "string"
	case *commonpb.AnyValue_BoolValue:
		return "bool"
	case *commonpb.AnyValue_IntValue:
		return "long"
	case *commonpb.AnyValue_DoubleValue:
		return "real"
	}
	return "dynamic"
}

//go:embed first-deploy.json
var firstDeploy []byte

// FirstDeploy is the columns of a new user's dataset: what one plain first
// deploy of a NixOS host exported (a record, then its delivery by flush;
// no revision, repository URL or environment; nothing failed). A test that
// runs the command on a real Nix system keeps the file true.
func FirstDeploy() Columns {
	var c Columns
	if err := json.Unmarshal(firstDeploy, &c); err != nil {
		panic("axiomcols: first-deploy.json: " + err.Error())
	}
	return c
}

// FirstDeployFile is the file FirstDeploy reads, relative to this package.
const FirstDeployFile = "first-deploy.json"
