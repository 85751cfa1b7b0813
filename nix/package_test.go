package nix_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// TestPackageGoNix: the package takes Go 1.26 where the nixpkgs default is
// older, and says which nixpkgs it needs where there is none.
func TestPackageGoNix(t *testing.T) {
	nixtest.Require(t)
	for _, c := range []struct {
		goVersion string
		hasGo126  bool
		want      string
	}{
		{"1.26.2", true, "buildGoModule"},
		{"1.27.0", false, "buildGoModule"},
		{"1.25.5", true, "buildGo126Module"},
	} {
		out := run(t, "nix-instantiate", "--eval", "nix/tests/package.nix",
			"--argstr", "goVersion", c.goVersion, "--arg", "hasGo126", strconv.FormatBool(c.hasGo126))
		if got := strings.Trim(strings.TrimSpace(string(out)), `"`); got != c.want {
			t.Errorf("Go %s, buildGo126Module %v: built with %s, want %s", c.goVersion, c.hasGo126, got, c.want)
		}
	}

	cmd := exec.Command("nix-instantiate", "--eval", "nix/tests/package.nix",
		"--argstr", "goVersion", "1.25.5", "--arg", "hasGo126", "false")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs Go 1.26 or newer") || !strings.Contains(string(out), "nixpkgs-unstable") {
		t.Errorf("Go 1.25 without buildGo126Module: %v\n%s\nwant an error naming the Go and the nixpkgs needed", err, out)
	}
}
