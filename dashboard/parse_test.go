package dashboard

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
)

// allQueries is every chart's query and the fleet query, by chart id.
func allQueries(t *testing.T) map[string]string {
	queries := build(t).Queries()
	queries["fleet"] = FleetQuery("deploy-traces")
	return queries
}

// Every query parses as Kusto, APL's grammar: a cheap check that a query
// at least parses.
func TestQueriesParseKusto(t *testing.T) {
	an := kusto.Start(t)
	if len(an.Parse("['deploy-traces'] | where | summarize")) == 0 {
		t.Fatal("the parser finds nothing wrong with a broken query")
	}
	for id, q := range allQueries(t) {
		if errs := an.Parse(q); len(errs) > 0 {
			t.Errorf("%s does not parse: %s\n%s", id, strings.Join(errs, "; "), q)
		}
	}
}

// Every query binds, as Axiom binds it, on a new user's dataset (what a
// plain first deploy exported: no revision column, no status message) and
// on a dataset that has seen everything, with duration as a timespan (as
// Axiom's documentation has it) or as integer nanoseconds (as its CLI guide
// shows it): a query naming a column the dataset lacks fails in Axiom.
func TestQueriesBind(t *testing.T) {
	an := kusto.Start(t)
	first := axiomcols.FirstDeploy()
	if len(first) == 0 {
		t.Fatal("no first-deploy columns")
	}
	all := axiomcols.All(axiomcols.Vocabulary())
	datasets := map[string]axiomcols.Columns{
		"first deploy":                       first,
		"first deploy, duration nanoseconds": first.WithDuration("long"),
		"everything":                         all,
		"everything, duration nanoseconds":   all.WithDuration("long"),
	}
	// The analyzer is a real judge: naming a column a new user's dataset
	// lacks fails there.
	if errs := an.Bind("['deploy-traces'] | project ['attributes.vcs.ref.head.revision']", "deploy-traces", first); len(errs) == 0 {
		t.Fatal("a missing column binds")
	}
	queries := allQueries(t)
	for _, name := range slices.Sorted(maps.Keys(datasets)) {
		for _, id := range slices.Sorted(maps.Keys(queries)) {
			if errs := an.Bind(queries[id], "deploy-traces", datasets[name]); len(errs) > 0 {
				t.Errorf("%s: %s does not bind: %s", name, id, strings.Join(errs, "; "))
			}
		}
	}
}
