package vocab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// referenceFile is the markdown file that holds the reference tables the
// vocabulary makes, each between the lines <!-- vocab:NAME … --> and
// <!-- /vocab:NAME -->. UPDATE_REFERENCE=1 rewrites them.
const referenceFile = "../../docs/tracing.md"

func TestReference(t *testing.T) {
	for _, p := range checkReference(t, referenceFile, os.Getenv("UPDATE_REFERENCE") != "") {
		t.Error(p)
	}
}

// checkReference lists how the tables of file differ from the vocabulary's,
// one line each saying which keys or values a table lacks and which it
// names that the vocabulary does not; update rewrites them instead.
func checkReference(t *testing.T, file string, update bool) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var problems []string
	for _, name := range []string{"attributes", "values"} {
		want := referenceTable(t, name, constants(t))
		start, end, ok := block(text, name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s has no block <!-- vocab:%s --> … <!-- /vocab:%s -->", file, name, name))
		case text[start:end] == want:
		case update:
			text = text[:start] + want + text[end:]
		default:
			why := "a row says another type, place or meaning"
			if missing, extra := difference(firstCells(want), firstCells(text[start:end])); missing != nil || extra != nil {
				why = fmt.Sprintf("it lacks %q and has %q besides", missing, extra)
			}
			problems = append(problems, fmt.Sprintf("%s: the %s table is not the vocabulary's: %s; "+
				"UPDATE_REFERENCE=1 go test ./telemetry/vocab -run TestReference rewrites it", file, name, why))
		}
	}
	if update && text != string(b) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return problems
}

// The check finds a key the table lacks, one it has besides, a value it
// lacks, and a row that differs in another cell; update makes it whole.
func TestReferenceCatchesDrift(t *testing.T) {
	consts := constants(t)
	attrs, values := referenceTable(t, "attributes", consts), referenceTable(t, "values", consts)
	deployTime := regexp.MustCompile("(?m)^\\| `deploy.time` .*\n").FindString(attrs)
	flushed := regexp.MustCompile("(?m)^\\| `deploy.outcome` \\| `flushed` .*\n").FindString(values)
	if deployTime == "" || flushed == "" {
		t.Fatal("no deploy.time row, or no flushed row")
	}
	drifted := strings.Replace(attrs, deployTime, "| `axiom.annotation.time` | string | `deliver` | x | y |\n", 1)
	file := filepath.Join(t.TempDir(), "tracing.md")
	doc := "# Tracing\n\n<!-- vocab:attributes -->\n" + drifted + "<!-- /vocab:attributes -->\n\n" +
		"<!-- vocab:values -->\n" + strings.Replace(values, flushed, "", 1) + "<!-- /vocab:values -->\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkReference(t, file, false), "\n")
	for _, want := range []string{
		fmt.Sprintf("attributes table is not the vocabulary's: it lacks %q and has %q besides", []string{"`deploy.time`"}, []string{"`axiom.annotation.time`"}),
		fmt.Sprintf("values table is not the vocabulary's: it lacks %q and has [] besides", []string{"`deploy.outcome` `flushed`"}),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %s\nwant %s", got, want)
		}
	}
	if p := checkReference(t, file, true); len(p) != 0 || len(checkReference(t, file, false)) != 0 {
		t.Errorf("after an update: %q", checkReference(t, file, false))
	}

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "| `deploy.force` | bool |", "| `deploy.force` | string |", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := checkReference(t, file, false); len(got) != 1 || !strings.Contains(got[0], "attributes table is not the vocabulary's: a row says another type, place or meaning") {
		t.Errorf("a row of another type: %q", got)
	}
}

// block is where the generated lines of a block start and end in text.
func block(text, name string) (start, end int, ok bool) {
	open := regexp.MustCompile(`(?m)^<!-- vocab:` + name + `\b.*-->\n`).FindStringIndex(text)
	if open == nil {
		return 0, 0, false
	}
	close := strings.Index(text[open[1]:], "<!-- /vocab:"+name+" -->")
	if close < 0 {
		return 0, 0, false
	}
	return open[1], open[1] + close, true
}

// referenceTable is a block's markdown.
func referenceTable(t *testing.T, name string, consts []constant) string {
	doc := map[string]string{}
	for _, c := range consts {
		doc[c.Value+"\x00"+c.Type] = meaning(c)
	}
	var b strings.Builder
	switch name {
	case "attributes":
		b.WriteString("| attribute | type | set on | Axiom field | meaning |\n| --- | --- | --- | --- | --- |\n")
		for _, a := range Attributes {
			m := a.Note
			if !a.Semconv {
				m = doc[string(a.Key)+"\x00attribute.Key"]
			}
			if slices.Contains(valued, a.Key) {
				m += " (values below)"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", a.Key, typeName(a.Type), setOn(a), field(a), m)
		}
	case "values":
		b.WriteString("| attribute | value | meaning |\n| --- | --- | --- |\n")
		for _, c := range consts {
			if k := valueOf[c.Type]; k != "" {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", k, c.Value, meaning(c))
			}
		}
	default:
		t.Fatalf("no reference table %q", name)
	}
	return b.String()
}

// valueOf is the attribute whose values each value type names; valued,
// those attributes.
var (
	valueOf = map[string]attribute.Key{"Mode": DeployMode, "Outcome": DeployOutcome, "Result": DeployResult, "Scope": NixScope, "Health": DeployHealth}
	valued  = []attribute.Key{DeployMode, DeployOutcome, DeployResult, NixScope, DeployHealth}
)

// meaning is a constant's doc comment as a table cell: without its name,
// a leading "is", and its final dot.
func meaning(c constant) string {
	m := strings.TrimPrefix(c.Doc, c.Name+" ")
	m = strings.TrimPrefix(m, "is ")
	return strings.TrimSuffix(m, ".")
}

func typeName(t attribute.Type) string {
	switch t {
	case attribute.INT64:
		return "int"
	case attribute.STRINGSLICE:
		return "string[]"
	}
	return strings.ToLower(t.String())
}

func setOn(a Attribute) string {
	quoted := make([]string, len(a.Spans))
	for i, s := range a.Spans {
		quoted[i] = "`" + s + "`"
	}
	switch {
	case a.Resource:
		return "resource"
	case a.Event != "":
		return "`" + a.Event + "` events of " + strings.Join(quoted, ", ")
	case len(a.Spans) == 0:
		return "no span yet"
	}
	return strings.Join(quoted, ", ")
}

func field(a Attribute) string {
	switch {
	case a.Event != "":
		return "`events`"
	case a.Resource:
		return "`" + ResourcePlace(string(a.Key)).String() + "`"
	}
	return "`" + SpanPlace(string(a.Key)).String() + "`"
}

// firstCells are the first cells of a table's rows, but its head: the
// keys or values it lists, with the attribute for a value.
func firstCells(table string) []string {
	var out []string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || !strings.Contains(cells[1], "`") {
			continue
		}
		row := strings.TrimSpace(cells[1])
		if strings.Contains(cells[2], "`") {
			row += " " + strings.TrimSpace(cells[2])
		}
		out = append(out, row)
	}
	return out
}

// difference is what want has that got lacks, and what got has besides.
func difference(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
