package vocab

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Place is where an OpenTelemetry traces dataset in Axiom keeps a value: a
// column, and for a map column the key within it.
type Place struct {
	Column string
	// Key is the key within a map column; empty for a whole column.
	Key string
}

// String is the place as APL names it: _time, ['status.message'],
// ['attributes.custom']['nix.generation'].
func (p Place) String() string {
	c := p.Column
	if !isIdent(c) {
		c = "['" + c + "']"
	}
	if p.Key != "" {
		c += "['" + p.Key + "']"
	}
	return c
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// semconvKeys are the semantic conventions 1.37 keys our spans and those
// beside them carry.
var semconvKeys = map[string]bool{}

func init() {
	for _, a := range Attributes {
		if a.Semconv {
			semconvKeys[string(a.Key)] = true
		}
	}
	for _, k := range Beside {
		semconvKeys[string(k)] = true
	}
}

// Semconv says whether Axiom keeps an attribute in a column of its own:
// whether it is one of the semantic conventions 1.37 keys the runs carry.
func Semconv(key string) bool { return semconvKeys[key] }

// SpanPlace is where Axiom keeps a span attribute: ['attributes.key'] for
// a semantic convention, else ['attributes.custom']['key'].
func SpanPlace(key string) Place {
	if Semconv(key) {
		return Place{Column: "attributes." + key}
	}
	return Place{Column: "attributes.custom", Key: key}
}

// ResourcePlace is where Axiom keeps a resource attribute: ['service.name']
// and ['service.version'] as columns of their own, ['resource.key'] for
// another semantic convention, else ['resource.custom.key'].
func ResourcePlace(key string) Place {
	switch {
	case key == string(semconv.ServiceNameKey) || key == string(semconv.ServiceVersionKey):
		return Place{Column: key}
	case Semconv(key):
		return Place{Column: "resource." + key}
	}
	return Place{Column: "resource.custom." + key}
}

// APL is the APL expression that reads the span attribute k, of its type
// (a time as a datetime).
// A dataset has a column only once some span carried it, and a query
// naming a column the dataset lacks fails: a semantic convention's column
// is read through column_ifexists. One of development stability, whose
// column Axiom does not document, is read in both places Axiom may keep
// it. A key of the custom map needs neither: a missing key is null. It
// panics for a key the command sets on no span.
func APL(k attribute.Key) string {
	a, ok := Lookup(k, false)
	if !ok {
		panic("vocab: no span attribute " + string(k))
	}
	return read(a, SpanPlace(string(k)), Place{Column: "attributes.custom", Key: string(k)})
}

// ResourceAPL is the APL expression that reads the resource attribute k,
// as APL does a span attribute. It panics for a key the command does not
// set on the resource.
func ResourceAPL(k attribute.Key) string {
	a, ok := Lookup(k, true)
	if !ok {
		panic("vocab: no resource attribute " + string(k))
	}
	return read(a, ResourcePlace(string(k)), Place{Column: "resource.custom." + string(k)})
}

// read reads a from its place, a semantic convention of development
// stability also from where Axiom keeps attributes it does not map.
func read(a Attribute, p, unmapped Place) string {
	conv, null := "tostring", "''"
	switch {
	case a.Time:
		conv = "todatetime"
	case a.Type == attribute.INT64:
		conv, null = "tolong", "long(null)"
	case a.Type == attribute.BOOL:
		conv, null = "tobool", "bool(null)"
	case a.Type == attribute.FLOAT64:
		conv, null = "toreal", "real(null)"
	}
	at := func(p Place) string {
		if p.Key != "" {
			return conv + "(" + p.String() + ")"
		}
		return conv + "(column_ifexists('" + p.Column + "', " + null + "))"
	}
	if !a.Semconv || a.Stable {
		return at(p)
	}
	return "coalesce(" + at(p) + ", " + at(unmapped) + ")"
}

// In is an APL list of values, for `in`: ('a', 'b').
func In[T ~string](values ...T) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = Quote(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// Quote is a value as an APL string literal: 'a'.
func Quote[T ~string](v T) string { return "'" + string(v) + "'" }

// Query is an APL query on dataset: lines joined as pipeline stages.
func Query(dataset string, lines ...string) string {
	return "['" + dataset + "']\n| " + strings.Join(lines, "\n| ")
}
