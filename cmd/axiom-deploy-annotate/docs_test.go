package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
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
// modes --help lists, in its order.
func TestModesReference(t *testing.T) {
	var help bytes.Buffer
	if code := run([]string{"--help"}, &help, &bytes.Buffer{}); code != exitOK {
		t.Fatalf("--help exited %d", code)
	}
	head, _, _ := strings.Cut(help.String(), "\nFlags")
	_, list, _ := strings.Cut(head, "\nModes")
	want := regexp.MustCompile(`(?m)^  ([a-z-]+)`).FindAllStringSubmatch(list, -1)
	rows := reference.Rows(reference.Read(t, reference.File(t, "docs/configuration.md"), "modes"))
	var got, wanted []string
	for _, m := range want {
		wanted = append(wanted, m[1])
	}
	for _, r := range rows {
		if m := modeCell.FindStringSubmatch(r[0]); m != nil {
			got = append(got, m[1])
		}
	}
	if len(wanted) == 0 || !slices.Equal(got, wanted) {
		t.Errorf("docs/configuration.md lists the modes %q; --help lists %q", got, wanted)
	}
}

// modeCell is the mode a row of the modes table names first.
var modeCell = regexp.MustCompile("^`([a-z-]+)")

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
