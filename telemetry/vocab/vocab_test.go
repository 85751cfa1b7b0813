package vocab

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// constant is a string constant this package declares, as its source
// says it.
type constant struct {
	Name, Type, Value string
	// Doc is its doc comment on one line.
	Doc string
}

// constants parses this package's non-test files for its string
// constants, in the order declared.
func constants(t *testing.T) []constant {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []constant
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				out = append(out, constantsOf(s.(*ast.ValueSpec), g)...)
			}
		}
	}
	return out
}

func constantsOf(s *ast.ValueSpec, g *ast.GenDecl) []constant {
	doc := s.Doc
	if doc == nil && len(g.Specs) == 1 {
		doc = g.Doc
	}
	typ := ""
	switch x := s.Type.(type) {
	case *ast.Ident:
		typ = x.Name
	case *ast.SelectorExpr:
		typ = x.X.(*ast.Ident).Name + "." + x.Sel.Name
	}
	var out []constant
	for i, n := range s.Names {
		lit, ok := s.Values[i].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		v, _ := strconv.Unquote(lit.Value)
		out = append(out, constant{Name: n.Name, Type: typ, Value: v, Doc: strings.Join(strings.Fields(doc.Text()), " ")})
	}
	return out
}

// ours says whether a key is in one of the command's own namespaces.
func ours(k attribute.Key) bool {
	for _, p := range []string{"deploy.", "nix.", "axiom.annotation.", "package."} {
		if strings.HasPrefix(string(k), p) {
			return true
		}
	}
	return false
}

// Every key of ours is a documented constant with one entry in
// Attributes, and every entry of Attributes is a key of ours or a
// semantic convention carried on known spans: the vocabulary is whole.
func TestVocabularyIsWhole(t *testing.T) {
	consts := constants(t)
	keys, spans := map[string]constant{}, map[string]bool{}
	for _, c := range consts {
		if c.Doc == "" || !strings.HasPrefix(c.Doc, c.Name+" ") {
			t.Errorf("%s: its doc comment should say what it is, starting with its name: %q", c.Name, c.Doc)
		}
		switch {
		case c.Type == "attribute.Key":
			keys[c.Value] = c
		case strings.HasPrefix(c.Name, "Span"):
			spans[c.Value] = true
		}
	}
	type where struct {
		key      attribute.Key
		resource bool
		event    string
	}
	seen := map[where]bool{}
	for _, a := range Attributes {
		where := where{a.Key, a.Resource, a.Event}
		if seen[where] {
			t.Errorf("%s is declared twice", a.Key)
		}
		seen[where] = true
		_, isConst := keys[string(a.Key)]
		switch {
		case ours(a.Key) && !isConst:
			t.Errorf("%s has no constant", a.Key)
		case ours(a.Key) && (a.Semconv || a.Note != ""):
			t.Errorf("%s is ours: not a semantic convention, and its constant's doc says what it is", a.Key)
		case !ours(a.Key) && (!a.Semconv || isConst):
			t.Errorf("%s: a key of the semantic conventions is semconv's, marked Semconv", a.Key)
		case a.Semconv && a.Note == "":
			t.Errorf("%s: say what the command puts in it", a.Key)
		}
		for _, s := range a.Spans {
			if !spans[s] {
				t.Errorf("%s: on %q, which is no span of ours", a.Key, s)
			}
		}
		if a.Resource && len(a.Spans) > 0 || a.Event != "" && a.Event != EventPackageChange || a.Type == attribute.EMPTY || a.Time && a.Type != attribute.STRING {
			t.Errorf("%s: resource %v, spans %v, event %q, type %v, time %v", a.Key, a.Resource, a.Spans, a.Event, a.Type, a.Time)
		}
	}
	for k := range keys {
		if !slices.ContainsFunc(Attributes, func(a Attribute) bool { return string(a.Key) == k }) {
			t.Errorf("%s is declared but not in Attributes", k)
		}
	}
	var modes []Mode
	for _, c := range consts {
		if c.Type == "Mode" {
			modes = append(modes, Mode(c.Value))
		}
	}
	if !slices.Equal(modes, Modes) {
		t.Errorf("Modes %q, but the Mode constants are %q", Modes, modes)
	}
}

// Each attribute is read where Axiom keeps it, as its type; a semantic
// convention of development stability in both places, a column through
// column_ifexists.
func TestAPL(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{APL(NixGeneration), "tolong(['attributes.custom']['nix.generation'])"},
		{APL(DeployDryRun), "tobool(['attributes.custom']['deploy.dry_run'])"},
		{APL(DeployOutcome), "tostring(['attributes.custom']['deploy.outcome'])"},
		{APL(DeployTime), "todatetime(['attributes.custom']['deploy.time'])"},
		{APL(semconv.DeploymentIDKey), "coalesce(tostring(column_ifexists('attributes.deployment.id', '')), tostring(['attributes.custom']['deployment.id']))"},
		{APL(semconv.ProcessExitCodeKey), "coalesce(tolong(column_ifexists('attributes.process.exit.code', long(null))), tolong(['attributes.custom']['process.exit.code']))"},
		{ResourceAPL(semconv.HostNameKey), "coalesce(tostring(column_ifexists('resource.host.name', '')), tostring(column_ifexists('resource.custom.host.name', '')))"},
		{ResourceAPL(semconv.ServiceVersionKey), "tostring(column_ifexists('service.version', ''))"},
		{In(OutcomeError, OutcomeSpooled), "('error', 'spooled')"},
		{Quote(SpanRun), "'run'"},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
	for _, read := range []func(){
		func() { APL("nix.generaton") },
		func() { APL(semconv.OSTypeKey) }, // a resource attribute only
		func() { ResourceAPL(NixLabel) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("reading an attribute the command does not set did not panic")
				}
			}()
			read()
		}()
	}
}

// Axiom keeps a semantic convention in a column of its own, the service's
// name and version at the top, anything else in a custom map.
func TestPlaces(t *testing.T) {
	for _, tc := range []struct {
		got  Place
		want string
	}{
		{SpanPlace("nix.generation"), "['attributes.custom']['nix.generation']"},
		{SpanPlace("vcs.ref.head.revision"), "['attributes.vcs.ref.head.revision']"},
		{SpanPlace("http.request.method"), "['attributes.http.request.method']"},
		{ResourcePlace("host.name"), "['resource.host.name']"},
		{ResourcePlace("service.name"), "['service.name']"},
		{ResourcePlace("team"), "['resource.custom.team']"},
		{Place{Column: "_time"}, "_time"},
	} {
		if got := tc.got.String(); got != tc.want {
			t.Errorf("%s, want %s", got, tc.want)
		}
	}
}
