package nixtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNixBuildsGenerations(t *testing.T) {
	Require(t)
	paths := Build(t,
		System{Host: "a", Label: "24.05.1", Revision: "0123456789abcdef0123456789abcdef01234567", Packages: []Package{{"hello", "2.12"}, {"zlib", ""}}},
		System{Host: "a", Darwin: true, Label: "25.05", Revision: "fedcba-dirty"},
	)
	out, err := exec.Command(filepath.Join(paths[0], "sw/bin/nixos-version"), "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"configurationRevision":"0123456789abcdef0123456789abcdef01234567","nixosVersion":"24.05.1"}`; strings.TrimSpace(string(out)) != want {
		t.Errorf("nixos-version --json = %s, want %s", out, want)
	}
	req, err := exec.Command("nix-store", "--query", "--requisites", paths[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"-hello-2.12\n", "-zlib\n"} {
		if !strings.Contains(string(req), name) {
			t.Errorf("closure of %s lacks %q:\n%s", paths[0], name, req)
		}
	}
	if b, err := os.ReadFile(filepath.Join(paths[1], "darwin-version.json")); err != nil || !strings.Contains(string(b), `"darwinLabel":"25.05"`) {
		t.Errorf("darwin-version.json = %s, %v", b, err)
	}

	m := NewMachine(t)
	m.Switch(paths[0])
	m.Switch(paths[1])
	if g := m.Generation(); g != 2 {
		t.Errorf("generation after two switches = %d, want 2", g)
	}
	m.Rollback()
	if g := m.Generation(); g != 1 {
		t.Errorf("generation after rollback = %d, want 1", g)
	}
	if cur, _ := filepath.EvalSymlinks(m.CurrentSystem()); cur != paths[0] {
		t.Errorf("current system after rollback = %s, want %s", cur, paths[0])
	}
}

// TestNixBuildFlat checks the two shapes of big closures: in both the
// toplevel refers to every package, and only BuildBig's packages refer to
// each other.
func TestNixBuildFlat(t *testing.T) {
	Require(t)
	before, _ := BigSystems(300)
	for _, tc := range []struct {
		name  string
		build func(testing.TB, ...System) []string
		flat  bool
	}{{"BuildBig", BuildBig, false}, {"BuildFlat", BuildFlat, true}} {
		top := tc.build(t, before)[0]
		// The toplevel refers to itself too (sw/bin/nixos-version).
		pkgs := slices.DeleteFunc(lines(t, "nix-store", "--query", "--references", top), func(p string) bool { return p == top })
		if len(pkgs) != len(before.Packages) {
			t.Errorf("%s: the toplevel refers to %d paths, want its %d packages", tc.name, len(pkgs), len(before.Packages))
		}
		refs := lines(t, "nix-store", append([]string{"--query", "--references"}, pkgs...)...)
		if tc.flat != (len(refs) == 0) {
			t.Errorf("%s: the packages refer to %d paths; flat is %v", tc.name, len(refs), tc.flat)
		}
		if all := lines(t, "nix-store", "--query", "--requisites", top); len(all) != len(pkgs)+1 {
			t.Errorf("%s: closure of %d paths, want %d", tc.name, len(all), len(pkgs)+1)
		}
	}
}

func lines(t *testing.T, name string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return strings.Fields(string(out))
}
