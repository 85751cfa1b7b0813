package monitor

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
)

// kustoAnalyzer is Microsoft's Kusto language service: APL follows its
// grammar, and its analyzer binds a query to a table's columns as Axiom
// does, naming the columns a query reads that the table lacks.
const kustoAnalyzer = "@kusto/language-service-next@12.4.1"

// firstDeploy is what a traces dataset holds after one plain deploy of a
// NixOS host (the record run, its flush and the delivery, the annotation's
// HTTP request): the columns of every span, the semantic conventions those
// spans carry, and the map of our own attributes. No revision (none
// configured), no deployment.status, no status.message (nothing failed).
const firstDeploy = `(['_time']:datetime, ['_sysTime']:datetime, ['trace_id']:string, ['span_id']:string,
 ['parent_span_id']:string, ['name']:string, ['kind']:string, ['duration']:timespan, ['error']:bool,
 ['status.code']:string, ['service.name']:string, ['service.version']:string,
 ['resource.host.name']:string, ['resource.host.arch']:string, ['resource.os.type']:string,
 ['resource.os.name']:string, ['resource.os.version']:string,
 ['attributes.host.name']:string, ['attributes.deployment.id']:string, ['attributes.deployment.name']:string,
 ['attributes.http.request.method']:string, ['attributes.http.response.status_code']:long,
 ['attributes.url.full']:string, ['attributes.server.address']:string, ['attributes.server.port']:long,
 ['attributes.custom']:dynamic, ['events']:dynamic, ['links']:dynamic)`

// later is a dataset that has seen revisions, failures and deploy health.
var later = strings.TrimSuffix(firstDeploy, ")") + `, ['attributes.vcs.ref.head.revision']:string,
 ['attributes.vcs.repository.url.full']:string, ['attributes.deployment.status']:string, ['status.message']:string)`

// bindScript prints, for each schema and query it reads, the analyzer's
// errors and the columns of the result.
const bindScript = `
const path = require('path');
const dir = path.join(process.argv[2], 'node_modules', '@kusto', 'language-service-next');
require(path.join(dir, 'bridge.min.js'));
require(path.join(dir, 'Kusto.Language.Bridge.min.js'));
const K = Kusto.Language;
const input = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
const out = {};
for (const [schema, columns] of Object.entries(input.schemas)) {
  const table = K.Symbols.TableSymbol.From(columns).WithName(input.dataset);
  const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.$ctor2('db', null, [table]));
  for (const [id, q] of Object.entries(input.queries)) {
    const code = K.KustoCode.ParseAndAnalyze(q, globals);
    const errors = Bridge.toArray(code.GetDiagnostics()).filter(d => d.Severity === 'Error')
      .map(d => d.Message + ' at ' + JSON.stringify(q.slice(d.Start, d.Start + 50)));
    const rt = code.ResultType;
    const result = rt && rt.Columns ? Bridge.toArray(rt.Columns).map(c => c.Name + ':' + c.Type.Name) : [];
    out[schema + ' ' + id] = {errors, result};
  }
}
console.log(JSON.stringify(out));
`

type bound struct {
	Errors []string
	Result []string
}

// bind runs the analyzer over queries on each schema, installing it from
// npm into a temporary directory; it skips without node and npm, or fails
// under CI=true.
func bind(t *testing.T, schemas, queries map[string]string) map[string]bound {
	t.Helper()
	if testing.Short() {
		t.Skip("installs the Kusto analyzer from npm")
	}
	skip := func(why string) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(tool + " is not installed: the Kusto analyzer needs it")
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, kustoAnalyzer)
	if out, err := install.CombinedOutput(); err != nil {
		skip("npm install " + kustoAnalyzer + ": " + err.Error() + "\n" + string(out))
	}
	b, _ := json.Marshal(map[string]any{"dataset": dataset, "schemas": schemas, "queries": queries})
	input, script := filepath.Join(dir, "input.json"), filepath.Join(dir, "bind.js")
	if err := os.WriteFile(input, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(bindScript), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "node", script, dir, input).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res map[string]bound
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res
}

// Every query binds on a first deploy's columns and on a later dataset's,
// and a Threshold query answers numbers to compare: a real analyzer, shown
// to name a column the first deploy lacks.
func TestQueriesBind(t *testing.T) {
	defs := build(t, Options{})
	queries := map[string]string{
		// Controls: the revision column is not there at first; a query
		// that reads it bare does not bind.
		"control": "['" + dataset + "'] | project ['attributes.vcs.ref.head.revision']",
	}
	for _, d := range defs {
		queries[d.Key] = d.Monitor.APLQuery
	}
	res := bind(t, map[string]string{"first": firstDeploy, "later": later}, queries)
	if len(res) != 2*len(queries) {
		t.Fatalf("bound %d of %d", len(res), 2*len(queries))
	}
	if c := res["first control"]; len(c.Errors) == 0 || !strings.Contains(c.Errors[0], "attributes.vcs.ref.head.revision") {
		t.Errorf("the analyzer binds a missing column: %+v", c)
	}
	if c := res["later control"]; len(c.Errors) != 0 {
		t.Errorf("the later dataset lacks the revision: %+v", c)
	}
	for _, d := range defs {
		for _, schema := range []string{"first", "later"} {
			b := res[schema+" "+d.Key]
			if len(b.Errors) > 0 {
				t.Errorf("%s on a %s dataset: %s\n%s", d.Key, schema, strings.Join(b.Errors, "; "), d.Monitor.APLQuery)
			}
			if d.Monitor.Type != axiom.MonitorTypeThreshold {
				continue
			}
			value := b.Result[len(b.Result)-1]
			_, typ, _ := strings.Cut(value, ":")
			if !slices.Contains([]string{"int", "long", "real", "decimal"}, typ) || !slices.Contains(b.Result, "host:string") {
				t.Errorf("%s answers %v: want a number per host", d.Key, b.Result)
			}
		}
	}
	// What the deploy notification names.
	if b := res["first deploy-problem"]; !containsAll(b.Result, "host:string", "generation:long", "revision:string", "failed_units:string") {
		t.Errorf("deploy-problem answers %v", b.Result)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}
