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

// TestNixBuildsHomeGenerations: a Home Manager generation holds activate
// and hm-version, links home-path (the packages) and home-files (the
// units, naming the packages only a service uses), and its closure holds
// both; its profile gets home-manager-N-link generations.
func TestNixBuildsHomeGenerations(t *testing.T) {
	Require(t)
	paths := BuildHome(t,
		Home{Label: "25.11+abcd1234", Packages: []Package{{"hello", "2.12"}, {"ripgrep", "14.1.0"}}, Services: []Package{{"syncthing", "1.27.0"}}},
		Home{Packages: []Package{{"hello", "2.13"}}},
	)
	for _, p := range paths {
		if !strings.HasSuffix(p, "-home-manager-generation") {
			t.Errorf("%s is not named as Home Manager names a generation", p)
		}
		if fi, err := os.Stat(filepath.Join(p, "activate")); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s/activate: %v, %v", p, fi, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(paths[0], "hm-version")); err != nil || string(b) != "25.11+abcd1234\n" {
		t.Errorf("hm-version = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(paths[1], "hm-version")); !os.IsNotExist(err) {
		t.Errorf("hm-version without a label: %v", err)
	}
	if target, err := filepath.EvalSymlinks(filepath.Join(paths[0], "home-path")); err != nil || !strings.HasSuffix(target, "-home-manager-path") {
		t.Errorf("home-path -> %s, %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(paths[0], "home-path", "bin", "ripgrep")); err != nil {
		t.Errorf("home-path lacks a package's program: %v", err)
	}
	unit, err := os.ReadFile(filepath.Join(paths[0], "home-files", ".config", "systemd", "user", "syncthing-1.27.0.service"))
	if err != nil || !strings.Contains(string(unit), "-syncthing-1.27.0") {
		t.Errorf("home-files unit = %q, %v", unit, err)
	}
	req, err := exec.Command("nix-store", "--query", "--requisites", paths[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"-hello-2.12\n", "-ripgrep-14.1.0\n", "-syncthing-1.27.0\n", "-home-manager-path\n", "-home-manager-files\n"} {
		if !strings.Contains(string(req), name) {
			t.Errorf("closure of %s lacks %q:\n%s", paths[0], name, req)
		}
	}

	h := NewHome(t)
	if !strings.HasSuffix(h.Profile(), "/.local/state/nix/profiles/home-manager") || !strings.HasSuffix(h.CurrentSystem(), "/.local/state/home-manager/gcroots/current-home") {
		t.Errorf("home profile %s, current %s", h.Profile(), h.CurrentSystem())
	}
	h.Switch(paths[0])
	h.Switch(paths[1])
	if _, err := os.Lstat(filepath.Join(filepath.Dir(h.Profile()), "home-manager-2-link")); err != nil || h.Generation() != 2 {
		t.Errorf("after two switches: generation %d, %v", h.Generation(), err)
	}
	h.Rollback()
	if cur, _ := filepath.EvalSymlinks(h.CurrentSystem()); cur != paths[0] || h.Generation() != 1 {
		t.Errorf("after rollback: generation %d, current %s", h.Generation(), cur)
	}
}
