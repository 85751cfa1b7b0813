package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/reference"
)

// TestConfigurationReference keeps the flags table of
// docs/configuration.md the settings table's: each flag with its value,
// its config file key, its default and its help, as --help gives them.
func TestConfigurationReference(t *testing.T) {
	reference.Check(t, reference.File(t, "docs/configuration.md"), "settings", settingsTable())
}

// settingsTable is the settings as a markdown table. The state directory's
// default is root's, as the help says whose it is.
func settingsTable() string {
	d := defaults()
	d.StateDir = systemStateDir
	var b strings.Builder
	b.WriteString("| flag | config key | default | what it sets |\n| --- | --- | --- | --- |\n")
	for _, s := range settings {
		flag := "--" + s.flag
		if s.arg != "" && s.arg != "BOOL" {
			flag += " " + s.arg
		}
		var key, def string
		if s.key != "" {
			key = "`" + s.key + "`"
		}
		if v := s.value(&d).String(); v != "" && s.arg != "" && s.flag != "config" {
			def = "`" + v + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", flag, key, def, strings.ReplaceAll(s.help, "|", `\|`))
	}
	return b.String()
}

// TestModesReference keeps the modes table of docs/configuration.md the
// modes table's: each mode, in --help's order, the first the default, with
// its usage and its reference text.
func TestModesReference(t *testing.T) {
	reference.Check(t, reference.File(t, "docs/configuration.md"), "modes", modesTable())
}

// modesTable is the modes as a markdown table.
func modesTable() string {
	var b strings.Builder
	b.WriteString("| mode | what it does |\n| --- | --- |\n")
	for i, m := range modes {
		usage := string(m.name)
		if m.args != "" {
			usage += " " + m.args
		}
		usage = "`" + usage + "`"
		if i == 0 {
			usage += " (default)"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", usage, strings.ReplaceAll(m.ref, "|", `\|`))
	}
	return b.String()
}

// TestExitStatusReference checks the exit status table of
// docs/operations.md against the command's exit statuses: each has a row,
// and no row names another.
func TestExitStatusReference(t *testing.T) {
	statuses := exitStatuses(t)
	rows := reference.Rows(reference.Read(t, reference.File(t, "docs/operations.md"), "exit-statuses"))
	documented := map[int]bool{}
	for _, r := range rows {
		if len(r) < 2 {
			t.Fatalf("row %q has no exit status", r)
		}
		n, err := strconv.Atoi(r[1])
		if err != nil {
			// rollout's: its command's status.
			continue
		}
		if !slices.Contains(statuses, n) {
			t.Errorf("docs/operations.md names exit status %d (%q), which the command has not", n, r[0])
		}
		documented[n] = true
	}
	for _, n := range statuses {
		if !documented[n] {
			t.Errorf("exit status %d has no row in docs/operations.md", n)
		}
	}
}

// exitStatuses are the values of the package's exit… constants.
func exitStatuses(t *testing.T) []int {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if d, ok := d.(*ast.GenDecl); ok && d.Tok == token.CONST {
				statuses = append(statuses, exitConstants(t, d)...)
			}
		}
	}
	if len(statuses) == 0 {
		t.Fatal("no exit statuses found")
	}
	slices.Sort(statuses)
	return statuses
}

// exitConstants are the values of the exit… constants a declaration names.
func exitConstants(t *testing.T, d *ast.GenDecl) []int {
	t.Helper()
	var values []int
	for _, spec := range d.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, id := range vs.Names {
			if !strings.HasPrefix(id.Name, "exit") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.INT {
				t.Fatalf("exit status %s is no number", id.Name)
			}
			v, err := strconv.Atoi(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, v)
		}
	}
	return values
}
