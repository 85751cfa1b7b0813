package dashboard

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
)

func TestFieldRefs(t *testing.T) {
	for _, tc := range []struct {
		apl  string
		want []string
	}{
		{`['ds'] | where ['attributes.custom']['nix.generation'] > 3`, []string{"['attributes.custom']['nix.generation']"}},
		{`['my-ds']
| where name == 'run' and isnull(parent_span_id)
| summarize count(), percentiles_array(duration, 50, 95) by bin_auto(_time)`, []string{"name", "parent_span_id", "duration", "_time"}},
		{`['ds'] | summarize arg_max(_time, *) by ['resource.host.name'] | project ['resource.host.name'], g = tostring(['attributes.custom']['nix.generation'])`,
			[]string{"_time", "['resource.host.name']", "['attributes.custom']['nix.generation']"}},
		// Names the query defines are not fields; functions and
		// operators are not either.
		{`['ds'] | extend host = tostring(['resource.host.name']) | summarize n = dcount(host), last = max(_time) by host | extend age = now() - last | order by age desc | take 5`,
			[]string{"['resource.host.name']", "_time"}},
		{`['ds'] | where ['status.message'] contains "it's" and error == true | project-away trace_id`, []string{"['status.message']", "error", "trace_id"}},
		{`let ds = ['ds'] | where kind == 'client'; ds | summarize by bin(_time, 7d), ["attributes.vcs.ref.head.revision"]`,
			[]string{"kind", "_time", "['attributes.vcs.ref.head.revision']"}},
		{`['ds'] // a comment with ['not.a.field']
| where _time > ago(30d) and ['resource.custom.team'] != '' and x['k'] == 1`, []string{"_time", "['resource.custom.team']", "x"}},
		{`['ds'] | where host in (['other'] | project h) | union ['third']`, []string{"host", "h"}},
		{`['ds'] | join kind=inner (['ds'] | where kind == 'server') on trace_id`, []string{"kind", "trace_id"}},
		{`['ds'] | where ['attributes.custom'].deploy == 1`, []string{"['attributes.custom']", "deploy"}},
		// A column named to column_ifexists is read.
		{`['ds'] | extend r = tostring(column_ifexists('attributes.vcs.ref.head.revision', '')), m = column_ifexists("status.message", name)`,
			[]string{"['attributes.vcs.ref.head.revision']", "['status.message']", "name"}},
	} {
		var got []string
		for _, f := range fieldRefs(tc.apl) {
			got = append(got, f.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("fieldRefs(%q)\n got %q\nwant %q", tc.apl, got, tc.want)
		}
	}
}

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		key           string
		span, resourc string
	}{
		{"nix.generation", "['attributes.custom']['nix.generation']", "['resource.custom.nix.generation']"},
		{"vcs.ref.head.revision", "['attributes.vcs.ref.head.revision']", "['resource.vcs.ref.head.revision']"},
		{"host.name", "['attributes.host.name']", "['resource.host.name']"},
		{"deployment.environment.name", "['attributes.deployment.environment.name']", "['resource.deployment.environment.name']"},
		{"service.name", "['attributes.service.name']", "['service.name']"},
		{"process.exit.code", "['attributes.process.exit.code']", "['resource.process.exit.code']"},
	} {
		if got := spanAttribute(tc.key).String(); got != tc.span {
			t.Errorf("span %s: %s, want %s", tc.key, got, tc.span)
		}
		if got := resourceAttribute(tc.key).String(); got != tc.resourc {
			t.Errorf("resource %s: %s, want %s", tc.key, got, tc.resourc)
		}
	}
}

// contract is what spans carry by the vocabulary, with the keys it
// reserves for spans to come (read where Axiom will keep them); the
// command's own tests check the queries against what a real run exports.
func contract() Carried {
	resource, span := axiomcols.Vocabulary()
	return Carry(slices.Collect(maps.Keys(resource)), append(slices.Collect(maps.Keys(span)), axiomcols.Reserved()...))
}

func TestQueriesReadTheContract(t *testing.T) {
	c := contract()
	r := build(t)
	queries := r.Queries()
	queries["fleet"] = FleetQuery("deploy-traces")
	for id, apl := range queries {
		if len(fieldRefs(apl)) == 0 {
			t.Errorf("%s reads no field", id)
		}
		for _, bad := range c.Check(apl) {
			t.Errorf("%s: %s", id, bad)
		}
	}
}

// A query that looks for one of ours outside attributes.custom, or for a
// semantic convention inside it, is caught and told where to look.
func TestCheckCatchesWrongPlaces(t *testing.T) {
	c := contract()
	for apl, want := range map[string]string{
		`['ds'] | where ['attributes.nix.generation'] > 1`:                    "Axiom keeps nix.generation in ['attributes.custom']['nix.generation']",
		`['ds'] | where ['attributes.custom']['vcs.ref.head.revision'] != ''`: "Axiom keeps vcs.ref.head.revision in ['attributes.vcs.ref.head.revision']",
		`['ds'] | where ['resource.custom.host.arch'] == 'amd64'`:             "Axiom keeps host.arch in ['resource.host.arch']",
		`['ds'] | where ['resource.nix.label'] == 'x'`:                        "Axiom would keep nix.label in ['resource.custom.nix.label'], and no span carries it",
		`['ds'] | where ['attributes.custom']['nix.generaton'] > 1`:           "no span carries nix.generaton",
		`['ds'] | where durration > 1s`:                                       "durration: no span has this column",
	} {
		got := c.Check(apl)
		if len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("Check(%q) = %q, want %q", apl, got, want)
		}
	}
	if got := c.Check(`['ds'] | where ['attributes.custom']['nix.generation'] > 1 and ['resource.host.arch'] == 'arm64' and ['service.name'] != ''`); len(got) != 0 {
		t.Errorf("right places refused: %q", got)
	}
	// Reading an attribute where Axiom keeps it and, as well, where it
	// keeps attributes it does not know, is right; a typo in
	// column_ifexists is caught.
	for apl, want := range map[string]string{
		`['ds'] | extend d = coalesce(tostring(column_ifexists('attributes.deployment.id', '')), tostring(['attributes.custom']['deployment.id']))`:     "",
		`['ds'] | extend h = coalesce(tostring(column_ifexists('resource.host.name', '')), tostring(column_ifexists('resource.custom.host.name', '')))`: "",
		`['ds'] | extend d = tostring(['attributes.custom']['deployment.id'])`:                                                                          "Axiom keeps deployment.id in ['attributes.deployment.id']",
		`['ds'] | extend r = tostring(column_ifexists('attributes.vcs.ref.head.revison', ''))`:                                                          "and no span carries it",
	} {
		got := strings.Join(c.Check(apl), "; ")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("Check(%q) = %q, want %q", apl, got, want)
		}
	}
}
