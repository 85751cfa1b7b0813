package layout

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/reference"
)

// TestLayout: no Go file of the module but a test is over 400 lines, and
// no function in one over 80.
func TestLayout(t *testing.T) {
	root := reference.File(t, ".")
	files, err := Sources(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("only %d Go files found under %s: the check looks at too little", len(files), root)
	}
	for _, name := range files {
		src, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		over, err := Check(name, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range over {
			t.Error(o)
		}
	}
}

// source is a Go file of n lines whose one function's body takes body
// lines.
func source(body, n int) []byte {
	var b strings.Builder
	b.WriteString("package p\n\nfunc f() {\n")
	for i := range body - 2 {
		fmt.Fprintf(&b, "\t_ = %d\n", i)
	}
	b.WriteString("}\n")
	for strings.Count(b.String(), "\n") < n {
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// TestCheck: the limits are where they say, for functions, function
// literals and files.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []byte
		want []string
	}{
		{"80-line function", source(80, 100), nil},
		{"81-line function", source(81, 100), []string{"x.go:3: func f is 81 lines, more than 80"}},
		{"400-line file", source(3, 400), nil},
		{"401-line file", source(3, 401), []string{"x.go: 401 lines, more than 400"}},
		{"long literal", []byte("package p\n\nvar f = func() {\n" + strings.Repeat("\t_ = 0\n", 80) + "}\n"), []string{"x.go:3: a function literal is 82 lines, more than 80"}},
	} {
		got, err := Check("x.go", tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
