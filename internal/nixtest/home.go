package nixtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Home describes a fake Home Manager generation (homes.nix): a
// "home-manager-generation" store path holding activate and hm-version,
// with home-path, a "home-manager-path" whose closure holds the Packages,
// and home-files, whose user units refer to the Services' packages.
type Home struct {
	// Label is the hm-version file's text (Home Manager's release); empty
	// leaves the file out, as generations before it had none.
	Label    string    `json:"label"`
	Packages []Package `json:"packages"`
	// Services are packages only a user unit in home-files refers to, not
	// in home-path.
	Services []Package `json:"services"`
	// Salt makes an otherwise equal generation a different store path.
	Salt string `json:"salt"`
}

// BuildHome builds the Home Manager generations with one nix-build and
// returns their store paths in order.
func BuildHome(t testing.TB, homes ...Home) []string {
	t.Helper()
	for i := range homes {
		if homes[i].Packages == nil {
			homes[i].Packages = []Package{}
		}
		if homes[i].Services == nil {
			homes[i].Services = []Package{}
		}
	}
	return buildSpec(t, "homes.nix", nil, homes, len(homes))
}

// NewHome makes a home directory laid out as Home Manager's, in a new
// temporary directory that every user may read (so that a test may run
// the command as another user): the profile
// .local/state/nix/profiles/home-manager, whose generations are
// home-manager-N-link, and the link to the current generation
// .local/state/home-manager/gcroots/current-home. Switch, Rollback and
// Activate do what home-manager switch, switch --rollback and
// switch --test do to them.
func NewHome(t testing.TB) *Machine {
	t.Helper()
	root := t.TempDir()
	state := filepath.Join(root, ".local", "state")
	for _, d := range []string{filepath.Join(state, "nix", "profiles"), filepath.Join(state, "home-manager", "gcroots")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	OpenToAll(t, root)
	return &Machine{
		t:       t,
		Root:    root,
		profile: filepath.Join(state, "nix", "profiles", "home-manager"),
		current: filepath.Join(state, "home-manager", "gcroots", "current-home"),
	}
}
