package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// firstDeploy runs a new user's first deploy on a fresh host: a system with
// a label but no revision, no repository URL, no environment, and an Axiom
// that takes everything. A NixOS host records it at the switch and a flush
// delivers it; a nix-darwin host annotates at once. It returns the columns
// the exported spans give a traces dataset.
func firstDeploy(t *testing.T, darwin bool) axiomcols.Columns {
	t.Helper()
	h := newHost(t)
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05.1", Darwin: darwin, Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "first"})
	h.m.Switch(p[0])
	if darwin {
		h.mustRun("--repository-url=")
	} else {
		h.mustRun("record", "--repository-url=")
		h.mustRun("flush", "--repository-url=")
	}
	if n := len(h.axiom.Annotations()); n != 1 {
		t.Fatalf("%d annotations, want 1", n)
	}
	return axiomcols.Of(h.otlp.ResourceSpans())
}

// firstHomeDeploy is a new user's first deploy with Home Manager alone,
// on a Linux without NixOS: recorded at activation, delivered by the
// flush, without revision or repository URL.
func firstHomeDeploy(t *testing.T) axiomcols.Columns {
	t.Helper()
	h := newHost(t)
	u := h.homeManager()
	p := nixtest.BuildHome(t, nixtest.Home{Label: "25.11", Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}, Salt: "first"})
	u.switchTo(p[0], "--repository-url=")
	if n := len(h.axiom.Annotations()); n != 1 {
		t.Fatalf("%d annotations, want 1", n)
	}
	return axiomcols.Of(h.otlp.ResourceSpans())
}

// TestQueriesBindOnFirstDeployNix binds every dashboard chart's query and
// the fleet query with Kusto's analyzer against the columns of a new
// user's dataset: a column exists only once some span carried it, and a
// query naming one the dataset lacks fails in Axiom. The NixOS host's
// columns are axiomcols.FirstDeploy, which the fakes answer queries with;
// UPDATE_FIRST_DEPLOY=1 rewrites that file.
func TestQueriesBindOnFirstDeployNix(t *testing.T) {
	an := kusto.Start(t)
	nixos, darwin, home := firstDeploy(t, false), firstDeploy(t, true), firstHomeDeploy(t)

	file := filepath.Join("..", "..", "internal", "axiomcols", axiomcols.FirstDeployFile)
	if os.Getenv("UPDATE_FIRST_DEPLOY") != "" {
		b, _ := json.MarshalIndent(nixos, "", "  ")
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want := axiomcols.FirstDeploy(); !maps.Equal(nixos, want) {
		t.Errorf("a first deploy gives the columns\n%v\nbut %s says\n%v\nrun with UPDATE_FIRST_DEPLOY=1 to update it", nixos, file, want)
	}
	for _, absent := range []string{"attributes.vcs.ref.head.revision", "status.message", "resource.deployment.environment.name"} {
		if _, ok := nixos[absent]; ok {
			t.Errorf("a plain first deploy gave the column %s", absent)
		}
	}

	req, err := dashboard.Build(dashboard.Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	queries := req.Queries()
	queries["fleet"] = dashboard.FleetQuery("deploy-traces")
	for name, cols := range map[string]axiomcols.Columns{"nixos": nixos, "darwin": darwin, "home-manager": home} {
		var failed []string
		for _, id := range slices.Sorted(maps.Keys(queries)) {
			if errs := an.Bind(queries[id], "deploy-traces", cols); len(errs) > 0 {
				failed = append(failed, id)
				t.Errorf("%s first deploy: %s does not bind: %s", name, id, strings.Join(errs, "; "))
			}
		}
		t.Logf("%s first deploy: %d of %d queries bind; failing: %v", name, len(queries)-len(failed), len(queries), failed)
	}
}
