package reference

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

const doc = "# Title\n\nProse.\n\n" +
	"<!-- table: made from somewhere -->\n| a | b |\n| --- | --- |\n| `x` | 1 |\n<!-- /table -->\n\nMore prose.\n"

func write(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestCompare(t *testing.T) {
	same := "| a | b |\n| --- | --- |\n| `x` | 1 |\n"
	drifted := "| a | b |\n| --- | --- |\n| `x` | 2 |\n"
	file := write(t, doc)
	if err := Compare(file, "table", same, false); err != nil {
		t.Errorf("the same table: %v", err)
	}
	err := Compare(file, "table", drifted, false)
	if err == nil || !strings.Contains(err.Error(), "line 3 is \"| `x` | 1 |\", want \"| `x` | 2 |\"") {
		t.Errorf("a drifted table: %v", err)
	}
	if err := Compare(file, "table", drifted, true); err != nil {
		t.Fatalf("update: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(doc, "| 1 |", "| 2 |", 1); string(b) != want {
		t.Errorf("after the update:\n%s\nwant\n%s", b, want)
	}
	if err := Compare(file, "table", drifted, false); err != nil {
		t.Errorf("after the update: %v", err)
	}
}

func TestCompareMarkers(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"none", "# Title\n", "no block <!-- table --> … <!-- /table -->"},
		{"unclosed", "<!-- table -->\n| a |\n", "the block table has no line <!-- /table -->"},
		{"twice", doc + doc, "the block table appears 2 times"},
		{"another name", strings.ReplaceAll(doc, "table", "tables"), "no block <!-- table -->"},
	} {
		err := Compare(write(t, c.text), "table", "", false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestRows(t *testing.T) {
	got := Rows("| a | b |\n| --- | --- |\n| `x` | 1 |\n|  y  | two words |\nnot a row\n")
	want := [][]string{{"`x`", "1"}, {"y", "two words"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// The test command CI runs (.ci/run) is the one docs/development.md gives,
// and the README names it.
func TestTestCommandDocumented(t *testing.T) {
	ci, err := os.ReadFile(File(t, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	var command string
	for _, line := range strings.Split(string(ci), "\n") {
		if strings.HasPrefix(line, "go test ") {
			command = line
		}
	}
	if command == "" {
		t.Fatal(".ci/run runs no go test")
	}
	for file, want := range map[string]string{"docs/development.md": command, "README.md": "go test ./..."} {
		b, err := os.ReadFile(File(t, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not give the test command %q", file, want)
		}
	}
}

// Every link from the README and docs/ to a file of the repository names a
// file that exists, and a heading of it where it names one.
func TestDocsLinks(t *testing.T) {
	files, err := filepath.Glob(File(t, "docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, File(t, "README.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, anchor, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, "://") {
				continue
			}
			to := file
			if target != "" {
				to = filepath.Join(filepath.Dir(file), target)
			}
			doc, err := os.ReadFile(to)
			if err != nil {
				t.Errorf("%s links %s, which does not exist", filepath.Base(file), m[1])
				continue
			}
			if anchor != "" && !slices.Contains(anchors(string(doc)), anchor) {
				t.Errorf("%s links %s, which has no heading #%s", filepath.Base(file), m[1], anchor)
			}
		}
	}
}

// anchors are the anchors GitHub gives a markdown file's headings.
func anchors(doc string) []string {
	var out []string
	inCode := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range heading {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
