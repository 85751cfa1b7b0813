package dashboard

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kustoParser is Microsoft's Kusto parser, whose grammar APL follows.
const kustoParser = "@kusto/language-service-next@12.4.1"

// parseScript prints, for each query in the JSON object it reads, the
// syntax errors the Kusto parser finds.
const parseScript = `
const path = require('path');
const dir = path.join(process.argv[2], 'node_modules', '@kusto', 'language-service-next');
require(path.join(dir, 'bridge.min.js'));
require(path.join(dir, 'Kusto.Language.Bridge.min.js'));
const queries = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
const out = {};
for (const [id, q] of Object.entries(queries)) {
  out[id] = Bridge.toArray(Kusto.Language.KustoCode.Parse(q).GetSyntaxDiagnostics())
    .map(d => d.Message + ' at ' + JSON.stringify(q.slice(d.Start, d.Start + 40)));
}
console.log(JSON.stringify(out));
`

// needNode skips without node and npm, or fails under CI=true.
func needNode(t *testing.T, why string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Every query parses as Kusto, APL's grammar: a cheap check that a query
// at least parses. It installs the parser from npm into a temporary
// directory.
func TestQueriesParseKusto(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a parser from npm")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			needNode(t, tool+" is not installed: the Kusto parser needs it")
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, kustoParser)
	if out, err := install.CombinedOutput(); err != nil {
		needNode(t, "npm install "+kustoParser+": "+err.Error()+"\n"+string(out))
	}
	queries := build(t).Queries()
	queries["fleet"] = FleetQuery("deploy-traces")
	// The parser is a real one: it finds errors.
	queries["broken"] = "['deploy-traces'] | where | summarize"
	b, _ := json.Marshal(queries)
	qfile, script := filepath.Join(dir, "queries.json"), filepath.Join(dir, "parse.js")
	if err := os.WriteFile(qfile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(parseScript), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "node", script, dir, qfile).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var diags map[string][]string
	if err := json.Unmarshal(out, &diags); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(diags["broken"]) == 0 {
		t.Fatal("the parser finds nothing wrong with a broken query")
	}
	delete(diags, "broken")
	if len(diags) != len(queries)-1 {
		t.Errorf("parsed %d queries of %d", len(diags), len(queries)-1)
	}
	for id, d := range diags {
		if len(d) > 0 {
			t.Errorf("%s does not parse: %s\n%s", id, strings.Join(d, "; "), queries[id])
		}
	}
}
