// Package reference keeps the reference tables in docs/ in step with the
// one declaration each describes. A table lives in a markdown file between
// the lines
//
//	<!-- NAME: where it comes from -->
//	<!-- /NAME -->
//
// A test either renders the table from its declaration and compares it with
// the block (Check; UPDATE_REFERENCE=1 rewrites the block instead), or
// reads the block (Read, Rows) and checks it against the declaration.
package reference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// UpdateVar is the environment variable that makes Check rewrite blocks.
const UpdateVar = "UPDATE_REFERENCE"

// Check fails t unless the block name of file is want; with
// UPDATE_REFERENCE set, it rewrites the block instead.
func Check(t testing.TB, file, name, want string) {
	t.Helper()
	if err := Compare(file, name, want, os.Getenv(UpdateVar) != ""); err != nil {
		t.Errorf("%v; %s=1 go test -run '^%s$' ./%s rewrites it", err, UpdateVar, topTest(t), packageDir())
	}
}

// Read is the text of the block name of file, failing t when there is none.
func Read(t testing.TB, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	start, end, err := find(string(b), name)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return string(b[start:end])
}

// Compare says how the block name of file differs from want, nil when it
// does not; with update, it rewrites the block to want instead.
func Compare(file, name, want string, update bool) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	text := string(b)
	start, end, err := find(text, name)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", file, err)
	case text[start:end] == want:
		return nil
	case update:
		return os.WriteFile(file, []byte(text[:start]+want+text[end:]), 0o644)
	}
	return fmt.Errorf("%s: the block %s is not what its source gives: %s", file, name, firstDifference(text[start:end], want))
}

// find is where the lines between a block's markers start and end.
func find(text, name string) (start, end int, err error) {
	open := regexp.MustCompile(`(?m)^<!-- `+regexp.QuoteMeta(name)+`(:.*)? -->\n`).FindAllStringIndex(text, -1)
	closing := "<!-- /" + name + " -->"
	switch {
	case len(open) == 0:
		return 0, 0, fmt.Errorf("no block <!-- %s --> … %s", name, closing)
	case len(open) > 1:
		return 0, 0, fmt.Errorf("the block %s appears %d times", name, len(open))
	}
	n := strings.Index(text[open[0][1]:], closing+"\n")
	if n < 0 {
		return 0, 0, fmt.Errorf("the block %s has no line %s", name, closing)
	}
	return open[0][1], open[0][1] + n, nil
}

// firstDifference names the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, want %q", i+1, gl, wl)
		}
	}
	return "they differ"
}

// Rows are the cells of a markdown table's rows, trimmed, without its
// head and the line under it.
func Rows(table string) [][]string {
	var rows [][]string
	head := true
	for _, line := range strings.Split(table, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		if head || strings.HasPrefix(line, "| ---") || strings.HasPrefix(line, "|---") {
			head = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

// File is a file of the repository, by its path from the top.
func File(t testing.TB, path string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(path))
}

// moduleRoot is the directory above the working directory that holds
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// packageDir is the test's package, from the top of the repository.
func packageDir() string {
	root, err := moduleRoot()
	wd, werr := os.Getwd()
	if err != nil || werr != nil {
		return "..."
	}
	rel, err := filepath.Rel(root, wd)
	if err != nil || rel == "." {
		return ""
	}
	return filepath.ToSlash(rel)
}

// topTest is the name of the test function t belongs to.
func topTest(t testing.TB) string {
	name, _, _ := strings.Cut(t.Name(), "/")
	return name
}
