// Package layout checks the code's shape, so that CI keeps it: no Go file
// but a test over MaxFileLines lines, and no function in one over
// MaxFuncLines. Past those there is usually a seam to split along.
package layout

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
)

// The limits.
const (
	MaxFileLines = 400
	MaxFuncLines = 80
)

// Check returns what in the Go source src, named name, is past the limits,
// one line each.
func Check(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var over []string
	if n := lines(src); n > MaxFileLines {
		over = append(over, fmt.Sprintf("%s: %d lines, more than %d", name, n, MaxFileLines))
	}
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		what := "a function literal"
		switch fn := n.(type) {
		case *ast.FuncDecl:
			body, what = fn.Body, "func "+fn.Name.Name
		case *ast.FuncLit:
			body = fn.Body
		}
		if body == nil {
			return true
		}
		start, end := fset.Position(n.Pos()), fset.Position(body.End())
		if l := end.Line - start.Line + 1; l > MaxFuncLines {
			over = append(over, fmt.Sprintf("%s:%d: %s is %d lines, more than %d", name, start.Line, what, l, MaxFuncLines))
		}
		return true
	})
	return over, nil
}

// lines counts the lines of src.
func lines(src []byte) int {
	n := strings.Count(string(src), "\n")
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// Sources are the Go files of fsys that are not tests, nor in testdata,
// vendor or a hidden directory.
func Sources(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if d.IsDir() {
			if path != "." && (base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if filepath.Ext(base) == ".go" && !strings.HasSuffix(base, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}
