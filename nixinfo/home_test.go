package nixinfo

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestHomePaths: Home Manager's profile and current-home link, where its
// activation keeps them: under the XDG state home, or where only the
// older per-user directories exist, there.
func TestHomePaths(t *testing.T) {
	legacy := t.TempDir()
	defer func(old string) { legacyNixState = old }(legacyNixState)
	legacyNixState = legacy
	home := t.TempDir()

	for _, c := range []struct {
		name                  string
		env                   map[string]string
		setup                 func()
		wantProfile, wantLink string
	}{
		{name: "no home", env: map[string]string{"HOME": "relative"}},
		{
			name:        "XDG_STATE_HOME",
			env:         map[string]string{"XDG_STATE_HOME": "/st", "HOME": home, "USER": "alice"},
			wantProfile: "/st/nix/profiles/home-manager", wantLink: "/st/home-manager/gcroots/current-home",
		},
		{
			name:        "a relative XDG_STATE_HOME is ignored",
			env:         map[string]string{"XDG_STATE_HOME": "st", "HOME": home},
			wantProfile: home + "/.local/state/nix/profiles/home-manager", wantLink: home + "/.local/state/home-manager/gcroots/current-home",
		},
		{
			name: "only the per-user profile directory exists",
			env:  map[string]string{"HOME": home, "USER": "alice"},
			setup: func() {
				mkdir(t, filepath.Join(legacy, "profiles", "per-user", "alice"))
				mkdir(t, filepath.Join(legacy, "gcroots", "per-user", "alice"))
				if err := os.Symlink("/nix/store/x", filepath.Join(legacy, "gcroots", "per-user", "alice", "current-home")); err != nil {
					t.Fatal(err)
				}
			},
			wantProfile: legacy + "/profiles/per-user/alice/home-manager", wantLink: legacy + "/gcroots/per-user/alice/current-home",
		},
		{
			name: "both: the state home's wins",
			env:  map[string]string{"HOME": home, "USER": "alice"},
			setup: func() {
				mkdir(t, filepath.Join(home, ".local", "state", "nix", "profiles"))
				mkdir(t, filepath.Join(home, ".local", "state", "home-manager", "gcroots"))
				if err := os.Symlink("/nix/store/y", filepath.Join(home, ".local", "state", "home-manager", "gcroots", "current-home")); err != nil {
					t.Fatal(err)
				}
			},
			wantProfile: home + "/.local/state/nix/profiles/home-manager", wantLink: home + "/.local/state/home-manager/gcroots/current-home",
		},
	} {
		if c.setup != nil {
			c.setup()
		}
		profile, link := HomePaths(env(c.env))
		if profile != c.wantProfile || link != c.wantLink {
			t.Errorf("%s: profile %q, link %q; want %q, %q", c.name, profile, link, c.wantProfile, c.wantLink)
		}
	}
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCurrentUser: $USER, as Home Manager takes it, else the name of the
// process's user.
func TestCurrentUser(t *testing.T) {
	t.Setenv("USER", "alice")
	if u := CurrentUser(); u != "alice" {
		t.Errorf("with USER=alice: %q", u)
	}
	t.Setenv("USER", "")
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	if u := CurrentUser(); u != me.Username {
		t.Errorf("without USER: %q, want %q", u, me.Username)
	}
}

func TestHostPlatform(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	defer func(old string) { nixosMarker = old }(nixosMarker)
	nixosMarker = filepath.Join(t.TempDir(), "NIXOS")
	if p := hostPlatform(); p != Linux {
		t.Errorf("without %s: %q", nixosMarker, p)
	}
	if err := os.WriteFile(nixosMarker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := hostPlatform(); p != NixOS {
		t.Errorf("with %s: %q", nixosMarker, p)
	}
}
