// Package nixtest builds real Nix store paths and generations for tests: fake
// NixOS and nix-darwin systems whose closures hold fake packages, and a
// profile with real system-N-link generations beside them.
//
// It needs Nix (Debian's nix-bin) run as root with a local store. Where Nix is
// missing the test is skipped, except under CI (CI=true), where it fails.
package nixtest

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Config is the Nix configuration that lets root build into the local store
// without build users, a sandbox or substituters.
const Config = "build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command flakes"

// Require skips the test when Nix is not installed, and fails it under CI,
// where Nix must be installed. It sets NIX_CONFIG for the test.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-build"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nix-build not found under CI: %v", err)
		}
		t.Skip("nix-build not found; install nix-bin to run this test")
	}
	t.Setenv("NIX_CONFIG", Config)
}

// Package is a fake package in a system's closure. Its store path name is
// "Name-Version", or "Name" when Version is empty.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// System describes a fake system toplevel.
type System struct {
	// Darwin makes a nix-darwin toplevel (darwin-version.json) instead of a
	// NixOS one (sw/bin/nixos-version).
	Darwin bool `json:"darwin"`
	// Name is the toplevel's store name; it defaults to
	// "nixos-system-<Host>-<Label>" or "darwin-system-<Label>".
	Name            string `json:"name"`
	Host            string `json:"host"`
	Label           string `json:"label"`
	Revision        string `json:"revision"`
	NixpkgsRevision string `json:"nixpkgsRevision"`
	// NoVersionInfo leaves out the nixos-version command or
	// darwin-version.json, as on a system whose revision is unknown.
	NoVersionInfo bool      `json:"noVersionInfo"`
	Packages      []Package `json:"packages"`
	// Deps and Roots shape the closure of a system BuildDeep builds: the
	// packages each package refers to, and those the toplevel refers to,
	// by index.
	Deps  [][]int `json:"deps,omitempty"`
	Roots []int   `json:"roots,omitempty"`
	// Salt makes an otherwise equal system a different store path.
	Salt string `json:"salt"`
}

func (s System) versionJSON() string {
	m := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	if s.Darwin {
		put("darwinLabel", s.Label)
	} else {
		put("nixosVersion", s.Label)
	}
	put("nixpkgsRevision", s.NixpkgsRevision)
	put("configurationRevision", s.Revision)
	b, _ := json.Marshal(m)
	return string(b)
}

type systemSpec struct {
	System
	VersionJSON string `json:"versionJson"`
}

// nixFiles are the Nix expressions the systems are built with, written
// beside the spec at each build so that they import each other.
//
//go:embed *.nix
var nixFiles embed.FS

// Build builds the systems with one nix-build and returns their store paths
// in order.
func Build(t testing.TB, systems ...System) []string {
	t.Helper()
	return build(t, "systems.nix", nil, systems)
}

// build builds the toplevels that the Nix file expr, a function of the
// systems' spec file and of the nix-build arguments args, makes of the
// systems.
func build(t testing.TB, expr string, args []string, systems []System) []string {
	t.Helper()
	specs := make([]systemSpec, len(systems))
	for i, s := range systems {
		if s.Host == "" {
			s.Host = "host"
		}
		if s.Label == "" {
			s.Label = "24.05"
		}
		if s.Packages == nil {
			s.Packages = []Package{}
		}
		specs[i] = systemSpec{System: s, VersionJSON: s.versionJSON()}
	}
	return buildSpec(t, expr, args, specs, len(specs))
}

// buildSpec builds the n store paths that the Nix file expr makes of the
// specs, written as JSON.
func buildSpec(t testing.TB, expr string, args []string, specs any, n int) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, nixFiles); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "spec.json")
	b, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-build", "--no-out-link", "--argstr", "spec", spec)
	cmd.Args = append(append(cmd.Args, args...), filepath.Join(dir, expr))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-build: %v\n%s", err, stderr.String())
	}
	paths := strings.Fields(string(out))
	if len(paths) != n {
		t.Fatalf("nix-build returned %d paths for %d specs", len(paths), n)
	}
	return paths
}

// Machine is a fake machine's root: a profile directory with system-N-link
// generations and a current-system link, as /nix/var/nix/profiles/system and
// /run/current-system are on NixOS and nix-darwin; or a home directory
// with Home Manager's profile and link to the current generation (NewHome).
type Machine struct {
	t    testing.TB
	Root string
	// profile and current are the profile and the link to what runs.
	profile, current string
}

// NewMachine makes an empty machine in a temporary directory.
func NewMachine(t testing.TB) *Machine {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"profiles", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Machine{t: t, Root: root, profile: filepath.Join(root, "profiles", "system"), current: filepath.Join(root, "run", "current-system")}
}

// Profile is the profile: profiles/system, or a home's
// .local/state/nix/profiles/home-manager.
func (m *Machine) Profile() string { return m.profile }

// CurrentSystem is the link to what runs: run/current-system, or a home's
// .local/state/home-manager/gcroots/current-home.
func (m *Machine) CurrentSystem() string { return m.current }

// Switch makes path a new generation of the profile and activates it, as
// nixos-rebuild switch and darwin-rebuild switch do.
func (m *Machine) Switch(path string) {
	m.t.Helper()
	m.nixEnv("--set", path)
	m.Activate(path)
}

// Boot makes path a new generation without activating it, as
// nixos-rebuild boot does.
func (m *Machine) Boot(path string) {
	m.t.Helper()
	m.nixEnv("--set", path)
}

// Rollback points the profile at the generation before and activates it, as
// nixos-rebuild switch --rollback does.
func (m *Machine) Rollback() {
	m.t.Helper()
	m.nixEnv("--rollback")
	target, err := filepath.EvalSymlinks(m.Profile())
	if err != nil {
		m.t.Fatal(err)
	}
	m.Activate(target)
}

// DeleteGenerations deletes generations of the profile, as
// nix-env --delete-generations does: numbers, or "old" for every one but
// the current (what nix-collect-garbage -d does to each profile).
func (m *Machine) DeleteGenerations(gens ...string) {
	m.t.Helper()
	m.nixEnv(append([]string{"--delete-generations"}, gens...)...)
}

// Activate points current-system at path without a new generation, as
// nixos-rebuild test does.
func (m *Machine) Activate(path string) {
	m.t.Helper()
	link := m.CurrentSystem()
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(path, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		m.t.Fatal(err)
	}
}

func (m *Machine) nixEnv(args ...string) {
	m.t.Helper()
	cmd := exec.Command("nix-env", append([]string{"-p", m.Profile()}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		m.t.Fatalf("nix-env %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Generation returns the number of the profile's newest chosen generation.
func (m *Machine) Generation() int {
	m.t.Helper()
	target, err := os.Readlink(m.Profile())
	if err != nil {
		m.t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(target), filepath.Base(m.profile)), "-%d-link", &n); err != nil {
		m.t.Fatalf("profile link %q: %v", target, err)
	}
	return n
}
