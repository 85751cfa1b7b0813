package nixinfo

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// nixEval evaluates expr, which reads the JSON in $NIXTEST_INPUT as
// "input", and decodes the JSON result into out.
func nixEval(t testing.TB, expr string, input, out any) {
	t.Helper()
	b, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	expr = `let input = builtins.fromJSON (builtins.readFile (builtins.getEnv "NIXTEST_INPUT")); in ` + expr
	cmd := exec.Command("nix-instantiate", "--eval", "--strict", "--json", "--expr", expr)
	cmd.Env = append(os.Environ(), "NIXTEST_INPUT="+file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatal(err)
	}
}

// randomVersions are versions made of the pieces that matter to
// compareVersions.
func randomVersions(n int) []string {
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"0", "1", "2", "10", "007", "2147483647", "2147483648", "99999999999", ".", ".", "-", "pre", "rc", "a", "b", "alpha", "_", "+", "p"}
	vs := make([]string, n)
	for i := range vs {
		var b strings.Builder
		for k := r.IntN(6); k >= 0; k-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		vs[i] = b.String()
	}
	return vs
}

// TestNixCompareVersionsMatchesBuiltins compares compareVersions with Nix's
// builtins.compareVersions on every pair of a few hundred versions.
func TestNixCompareVersionsMatchesBuiltins(t *testing.T) {
	nixtest.Require(t)
	versions := append([]string{
		"", "1", "1.0", "1.0.0", "1.01", "1-0", "2.3", "2.3.1", "2.3a", "2.3pre1", "2.3pre12", "2.3c",
		"1.0rc1", "6.6.30", "6.6.30-modules", "5.2p26", "2024-05-01", "20240501", "pre", "a", "1..0", "1.",
	}, randomVersions(250)...)
	var nix [][]int
	nixEval(t, `map (a: map (b: builtins.compareVersions a b) input) input`, versions, &nix)
	bad := 0
	for i, a := range versions {
		for j, b := range versions {
			if got := compareVersions(a, b); got != nix[i][j] && bad < 20 {
				bad++
				t.Errorf("compareVersions(%q, %q) = %d, builtins.compareVersions gives %d", a, b, got, nix[i][j])
			}
		}
	}
}

// TestNixSplitNameMatchesParseDrvName compares splitName, once the output
// name is dropped, with builtins.parseDrvName.
func TestNixSplitNameMatchesParseDrvName(t *testing.T) {
	nixtest.Require(t)
	names := []string{
		"hello-2.12", "hello", "apache-httpd-2.0.48", "915resolution-0.5.2", "xf86-video-i810-1.7.4",
		"name-that-ends-with-dash--1.0", "python3.12-requests-2.31.0", "perl5.38.2-Try-Tiny-0.31",
		"foo-unstable-2024-05-01", "unit-dbus.service", "weird-_1.0", "weird-+1", "a-", "-", "", "-1", "a-B-1",
		"linux-6.6.30-modules", "X-Restart-Triggers-sshd",
	}
	for _, v := range randomVersions(100) {
		names = append(names, "pkg-"+v, "pkg"+v)
	}
	var nix []struct{ Name, Version string }
	nixEval(t, `map (n: let p = builtins.parseDrvName n; in { Name = p.name; Version = p.version; }) input`,
		slices.Collect(func(yield func(string) bool) {
			for _, n := range names {
				if !yield(dropOutput(n)) {
					return
				}
			}
		}), &nix)
	for i, n := range names {
		name, version := splitName(n)
		if name != nix[i].Name || version != nix[i].Version {
			t.Errorf("splitName(%q) = %q, %q; builtins.parseDrvName of %q gives %q, %q", n, name, version, dropOutput(n), nix[i].Name, nix[i].Version)
		}
	}
}
