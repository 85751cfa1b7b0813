package vocab

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// ownKey is a name in one of the command's own attribute namespaces.
var ownKey = regexp.MustCompile(`^(deploy|nix)\.[a-z_]+(\.[a-z_]+)*$|^axiom\.annotation\.|^package\.(name|before|after|change)$`)

// keyLiterals lists the string literals in the Go files below root, but
// for tests and this package, that hold an attribute key: one the
// vocabulary declares, or any name in one of our namespaces, alone or
// inside a longer text (an APL field, a help line), one line each.
func keyLiterals(t *testing.T, root string) []string {
	t.Helper()
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, a := range Attributes {
		declared[string(a.Key)] = true
	}
	var found []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (path == here || d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".") && path != root):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, name := range names(s) {
				if ownKey.MatchString(name) || declared[name] || declaredSuffix(declared, name) {
					found = append(found, fmt.Sprintf("%s: %q", fset.Position(lit.Pos()), name))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// names are the dotted names in a text: runs of letters, digits, '_', '.'
// and '-', without a sentence's final dot.
func names(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return !(r == '_' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	for i := range f {
		f[i] = strings.TrimRight(f[i], ".")
	}
	return f
}

// declaredSuffix says whether a name is a declared key after a column's
// prefix: attributes.vcs.ref.head.revision, resource.custom.host.name.
func declaredSuffix(declared map[string]bool, name string) bool {
	for _, p := range []string{"attributes.", "resource.custom.", "resource."} {
		if k, ok := strings.CutPrefix(name, p); ok && declared[k] {
			return true
		}
	}
	return false
}

// No code but this package's writes an attribute key: producers set
// attributes, and the dashboard and monitors read them, through the
// vocabulary's constants, so a key is spelled in one place.
func TestNoKeyLiterals(t *testing.T) {
	root := moduleRoot(t)
	for _, l := range keyLiterals(t, root) {
		t.Errorf("an attribute key outside telemetry/vocab: %s", l)
	}
}

// The scan finds keys where code would write them.
func TestKeyLiteralsFound(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\nimport \"fmt\"\n\nvar (\n" +
		"\ta = \"deploy.new_thing\"\n" +
		"\tb = \"extend g = tolong(['attributes.custom']['nix.generation'])\"\n" +
		"\tc = \"coalesce(column_ifexists('attributes.vcs.ref.head.revision', ''))\"\n" +
		"\td = \"axiom.annotation.time\"\n" +
		"\te = fmt.Sprint(\"the deploy. first-deploy.json, package.json, axiom.co, host\")\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keyLiterals(t, dir)
	want := []string{`"deploy.new_thing"`, `"nix.generation"`, `"attributes.vcs.ref.head.revision"`, `"axiom.annotation.time"`}
	if len(got) != len(want) {
		t.Fatalf("found %q, want %q", got, want)
	}
	for i, w := range want {
		if !strings.HasSuffix(got[i], w) {
			t.Errorf("found %s, want %s", got[i], w)
		}
	}
}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above this package")
		}
		dir = parent
	}
}
