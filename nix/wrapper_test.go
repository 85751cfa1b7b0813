package nix_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// TestWrapperNix runs the axiom-deploy-annotate the system modules put on
// PATH, built as the module builds it, with the real command: a mode given
// to it (`axiom-deploy-annotate flush`, as the README says and nix-darwin's
// flush daemon runs it) reaches the command first, as the command requires,
// with the module's configuration and the caller's flags after it.
func TestWrapperNix(t *testing.T) {
	nixtest.Require(t)
	bin := buildCommand(t)
	for _, platform := range []string{"nixos", "darwin"} {
		t.Run(platform, func(t *testing.T) {
			out := run(t, "nix-build", "--no-out-link", "nix/tests/eval.nix", "-A", "systemPackages",
				"--argstr", "platform", platform, "--argstr", "bin", bin, "--argstr", "settings", settingsJSON(t, nil))
			wrapper := filepath.Join(strings.TrimSpace(string(out)), "bin", "axiom-deploy-annotate")
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"check-config"}, "config ok\n"},
				{[]string{"check-config", "--verbose"}, "config ok\n"},
				{[]string{"--version"}, "axiom-deploy-annotate "},
			} {
				got, err := exec.Command(wrapper, c.args...).CombinedOutput()
				if err != nil || !strings.HasPrefix(string(got), c.want) {
					t.Errorf("axiom-deploy-annotate %s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, got, c.want)
				}
			}
		})
	}
}
