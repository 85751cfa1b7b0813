package dashboard

import (
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/reference"
)

// TestChartsReference checks the charts table of docs/dashboards.md
// against the dashboard: a row for each chart, by its name in Axiom, top
// down (the note by its type).
func TestChartsReference(t *testing.T) {
	req, err := Build(Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, c := range req.Dashboard.Charts {
		want = append(want, cmpName(c))
	}
	for _, r := range reference.Rows(reference.Read(t, reference.File(t, "docs/dashboards.md"), "charts")) {
		got = append(got, strings.Trim(r[0], "`"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("docs/dashboards.md lists the charts\n%q\nthe dashboard has\n%q", got, want)
	}
}

func cmpName(c Chart) string {
	if c.Name == "" {
		return c.Type
	}
	return c.Name
}
