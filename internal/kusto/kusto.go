// Package kusto runs Microsoft's Kusto analyzer for tests. APL follows the
// grammar of Kusto, and the analyzer (the npm package
// @kusto/language-service-next, run in node) parses a query and binds it
// against a table's columns the way Axiom does, naming every column the
// table lacks.
//
// It needs node and npm. Where they are missing the test is skipped, except
// under CI (CI=true), where it fails. The package is installed once into the
// user's cache directory.
package kusto

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is the analyzer's npm package, at the version the tests pin.
const Package = "@kusto/language-service-next@12.4.1"

// script answers one JSON request a line on stdin with one JSON line on
// stdout: the errors the analyzer finds in the query, parsed alone or, with
// a schema, bound against a database holding that one table.
const script = `
const path = require('path');
const dir = path.join(process.argv[2], 'node_modules', '@kusto', 'language-service-next');
require(path.join(dir, 'bridge.min.js'));
require(path.join(dir, 'Kusto.Language.Bridge.min.js'));
const K = Kusto.Language;
const lines = require('readline').createInterface({input: process.stdin});
lines.on('line', line => {
  let out;
  try {
    const req = JSON.parse(line);
    let diags;
    if (req.schema === undefined) {
      diags = Bridge.toArray(K.KustoCode.Parse(req.query).GetSyntaxDiagnostics());
    } else {
      const table = K.Symbols.TableSymbol.From(req.schema).WithName(req.table);
      const db = new K.Symbols.DatabaseSymbol.$ctor2('db', null, [table]);
      const globals = K.GlobalState.Default.WithDatabase(db);
      diags = Bridge.toArray(K.KustoCode.ParseAndAnalyze(req.query, globals).GetDiagnostics());
    }
    out = {errors: diags.filter(d => d.Severity === 'Error')
      .map(d => d.Message + ' at ' + JSON.stringify(req.query.slice(d.Start, d.Start + 48)))};
  } catch (e) {
    out = {errors: ['analyzer: ' + e]};
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
`

// Analyzer is a running analyzer. It is safe for concurrent use.
type Analyzer struct {
	mu  sync.Mutex
	in  io.Writer
	out *bufio.Reader
}

var (
	once     sync.Once
	shared   *Analyzer
	startErr error
)

// Start returns the analyzer, installed and started once for the test
// binary; without node or npm it skips t (fails it under CI=true), as it
// does with -short.
func Start(t testing.TB) *Analyzer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the Kusto analyzer runs in node")
	}
	a, err := Available()
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return a
}

// Available returns the analyzer, installed and started once for the test
// binary, or why it cannot run.
func Available() (*Analyzer, error) {
	once.Do(func() { shared, startErr = start() })
	return shared, startErr
}

func start() (*Analyzer, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed: the Kusto analyzer needs it", tool)
		}
	}
	dir, err := install()
	if err != nil {
		return nil, err
	}
	js := filepath.Join(dir, "analyze.js")
	if err := os.WriteFile(js, []byte(script), 0o644); err != nil {
		return nil, err
	}
	// The analyzer lives as long as the test binary: it ends when its
	// standard input closes with the binary.
	cmd := exec.Command("node", js, dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &Analyzer{in: in, out: bufio.NewReader(out)}
	// A query that parses proves it started.
	if errs := a.Parse("print 1"); len(errs) > 0 {
		return nil, fmt.Errorf("the Kusto analyzer does not start: %s", strings.Join(errs, "; "))
	}
	return a, nil
}

// install puts the npm package into the user's cache directory, once for
// all test binaries: each installs into a directory of its own and the
// first to finish moves it into place.
func install() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "axiom-deploy-annotation", "kusto-"+strings.NewReplacer("@", "", "/", "-").Replace(Package))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@kusto", "language-service-next", "package.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	npm := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp, Package)
	if out, err := npm.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %v\n%s", Package, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return "", err
		}
	}
	return dir, nil
}

// Parse is the syntax errors the analyzer finds in q.
func (a *Analyzer) Parse(q string) []string {
	return a.ask(map[string]any{"query": q})
}

// Bind is the errors the analyzer finds in q bound against a database
// holding one table, named table, of these columns (name: Kusto type:
// string, long, real, bool, datetime, timespan, dynamic).
func (a *Analyzer) Bind(q, table string, columns map[string]string) []string {
	return a.ask(map[string]any{"query": q, "table": table, "schema": Schema(columns)})
}

// Schema is columns as the analyzer declares a table: every name
// bracketed (an unbracketed name such as kind silently ends the schema),
// sorted.
func Schema(columns map[string]string) string {
	var cols []string
	for name, typ := range columns {
		cols = append(cols, "['"+strings.ReplaceAll(name, "'", `\'`)+"']:"+typ)
	}
	slices.Sort(cols)
	return "(" + strings.Join(cols, ", ") + ")"
}

func (a *Analyzer) ask(req map[string]any) []string {
	b, err := json.Marshal(req)
	if err != nil {
		return []string{"analyzer: " + err.Error()}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.in.Write(append(b, '\n')); err != nil {
		return []string{"analyzer: " + err.Error()}
	}
	line, err := a.out.ReadBytes('\n')
	if err != nil {
		return []string{"analyzer: " + err.Error()}
	}
	var res struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return []string{"analyzer: " + err.Error()}
	}
	return res.Errors
}
