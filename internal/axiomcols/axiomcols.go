// Package axiomcols is what Axiom makes of OTLP spans in an OpenTelemetry
// traces dataset: the column each attribute lands in, and the columns, with
// their Kusto types, a dataset has once it has ingested some spans. A column
// exists only once some span carried it, and a query naming a column the
// dataset lacks fails: the dashboard's and fleet's queries are checked
// against these columns.
package axiomcols

import (
	_ "embed"
	"encoding/json"
	"maps"

	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Place is where Axiom keeps a value: a column, and for a map column the
// key within it.
type Place struct {
	Column string
	// Key is the key within a map column; empty for a whole column.
	Key string
}

// semconvKeys are the semantic conventions 1.37 attributes our spans, and
// the HTTP client spans of otelhttp and the Axiom SDK beside them, carry.
// Axiom gives each its own column; any other attribute goes into a map.
var semconvKeys = map[string]bool{}

func init() {
	for _, k := range []string{
		string(semconv.ServiceNameKey), string(semconv.ServiceVersionKey),
		string(semconv.HostNameKey), string(semconv.HostIDKey), string(semconv.HostArchKey),
		string(semconv.OSTypeKey), string(semconv.OSNameKey), string(semconv.OSVersionKey),
		string(semconv.DeploymentEnvironmentNameKey), string(semconv.DeploymentIDKey), string(semconv.DeploymentNameKey),
		string(semconv.VCSRefHeadRevisionKey), string(semconv.VCSRepositoryURLFullKey),
		string(semconv.ProcessExitCodeKey),
		string(semconv.TelemetrySDKNameKey), string(semconv.TelemetrySDKLanguageKey), string(semconv.TelemetrySDKVersionKey),
		string(semconv.HTTPRequestMethodKey), string(semconv.HTTPResponseStatusCodeKey),
		string(semconv.HTTPRequestBodySizeKey), string(semconv.HTTPResponseBodySizeKey),
		string(semconv.URLFullKey), string(semconv.URLSchemeKey), string(semconv.ServerAddressKey), string(semconv.ServerPortKey),
		string(semconv.NetworkProtocolVersionKey), string(semconv.NetworkPeerAddressKey), string(semconv.NetworkPeerPortKey),
		string(semconv.UserAgentOriginalKey), string(semconv.ErrorTypeKey),
		string(semconv.ExceptionMessageKey), string(semconv.ExceptionTypeKey),
	} {
		semconvKeys[k] = true
	}
}

// Semconv says whether Axiom maps key to a column of its own: whether it
// is one of the semantic conventions 1.37 attributes our runs carry.
func Semconv(key string) bool { return semconvKeys[key] }

// Span is where Axiom keeps a span attribute: ['attributes.key'] for a
// semantic convention, else ['attributes.custom']['key'].
func Span(key string) Place {
	if Semconv(key) {
		return Place{Column: "attributes." + key}
	}
	return Place{Column: "attributes.custom", Key: key}
}

// Resource is where Axiom keeps a resource attribute: ['service.name'] and
// ['service.version'] as columns of their own, ['resource.key'] for another
// semantic convention, else ['resource.custom.key'].
func Resource(key string) Place {
	switch {
	case key == string(semconv.ServiceNameKey) || key == string(semconv.ServiceVersionKey):
		return Place{Column: key}
	case Semconv(key):
		return Place{Column: "resource." + key}
	}
	return Place{Column: "resource.custom." + key}
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
			c[Resource(kv.Key).Column] = kustoType(kv.Value)
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
		if p := Span(kv.Key); p.Key != "" {
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
		c[Resource(k).Column] = typ
		c["resource.custom."+k] = typ
	}
	for k, typ := range span {
		if p := Span(k); p.Key == "" {
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
