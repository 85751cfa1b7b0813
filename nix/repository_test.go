package nix_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
)

// flakeRefForges reads the keys of render's flakeRefHosts, the flake
// reference prefixes the command resolves, from its source.
func flakeRefForges(t *testing.T) []string {
	t.Helper()
	file := filepath.Join(moduleRoot(t), "annotator", "render", "link.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var forges []string
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || len(spec.Names) != 1 || spec.Names[0].Name != "flakeRefHosts" || len(spec.Values) != 1 {
			return true
		}
		lit, ok := spec.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("flakeRefHosts in %s is no map literal", file)
		}
		for _, elt := range lit.Elts {
			kv := elt.(*ast.KeyValueExpr)
			key, err := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			forges = append(forges, key)
		}
		return false
	})
	if len(forges) == 0 {
		t.Fatalf("no flakeRefHosts map in %s", file)
	}
	return forges
}

func commandAccepts(repository string) error {
	return render.Settings{Datasets: []string{"deployments"}, Type: "nix-deploy", RepositoryURL: repository}.Validate()
}

// TestRepositoryURLNix keeps the module's repositoryUrl option and the
// command in step: the option accepts every flake reference the command
// resolves, and whatever the option accepts, the command accepts too, so a
// value the option lets through never fails the build's configuration check.
func TestRepositoryURLNix(t *testing.T) {
	examples := []struct {
		url    string
		module bool // whether the option accepts it
	}{
		{"https://github.com/example/nix-config", true},
		{"https://gitlab.example.com:8443/group/sub/nix-config.git", true},
		{"http://git.internal/example/nix-config", true},
		{"https://codeberg.org/example/nix-config/", true},
		{"https://git.sr.ht/~example/nix-config", true},
		{"github:example/nix-config", true},
		{"gitlab:group/sub/nix-config", true},
		{"sourcehut:~example/nix-config", true},
		{"codeberg:example/nix-config", false},
		{"https://github.com", false},
		{"https://github.com/", false},
		{"https://user:secret@github.com/example/nix-config", false},
		{"https://github.com/example/nix-config?tab=readme", false},
		{"https://github.com/example/nix-config#readme", false},
		{"https://github.com/example/%zz", false},
		{"github:example/nix-config?dir=hosts", false},
		{"github:", false},
		{"ftp://example.com/nix-config", false},
		{"git@github.com:example/nix-config.git", false},
		{"github.com/example/nix-config", false},
		{" https://github.com/example/nix-config", false},
		{"https://github.com/example/nix config", false},
		{"https://github.com/example/nix-config\n", false},
		{"", false},
	}
	var urls []string
	for _, e := range examples {
		urls = append(urls, e.url)
	}
	forges := flakeRefForges(t)
	for _, forge := range forges {
		urls = append(urls, forge+":example/nix-config")
	}

	var got struct {
		RepositoryURLAccepted []bool `json:"repositoryUrlAccepted"`
	}
	evalModule(t, "nixos", nil, &got, "--argstr", "repositoryUrls", toJSON(t, urls))
	if len(got.RepositoryURLAccepted) != len(urls) {
		t.Fatalf("%d verdicts for %d URLs", len(got.RepositoryURLAccepted), len(urls))
	}
	module := map[string]bool{}
	for i, u := range urls {
		module[u] = got.RepositoryURLAccepted[i]
	}

	for _, e := range examples {
		if module[e.url] != e.module {
			t.Errorf("repositoryUrl %q: the option accepts it: %v, want %v", e.url, module[e.url], e.module)
		}
	}
	for _, forge := range forges {
		u := forge + ":example/nix-config"
		if !module[u] {
			t.Errorf("the command resolves %s: references, but the repositoryUrl option refuses %q: add %s to its pattern in nix/common.nix", forge, u, forge)
		}
	}
	for u, ok := range module {
		if !ok {
			continue
		}
		if err := commandAccepts(u); err != nil {
			t.Errorf("the repositoryUrl option accepts %q but the command refuses it: %v", u, err)
		}
	}
}
