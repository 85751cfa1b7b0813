package nixinfo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

func discoverHome(t *testing.T, h *nixtest.Machine, current, revision string) *nixinfo.Generation {
	t.Helper()
	if current == "" {
		current = h.CurrentSystem()
	}
	g, err := nixinfo.Discover(context.Background(), nixinfo.Options{
		Scope: nixinfo.HomeManager, CurrentSystem: current, Profile: h.Profile(), Hostname: "laptop", User: "alice", Revision: revision,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestDiscoverHomeManagerNix follows a user's Home Manager profile through
// the deploys home-manager makes: switches (the record sees the new
// generation's path, $newGenPath, before current-home is re-pointed), a
// test activation, and a rollback. The revision is the one passed in; a
// generation carries none.
func TestDiscoverHomeManagerNix(t *testing.T) {
	nixtest.Require(t)
	p := nixtest.BuildHome(t,
		nixtest.Home{Label: "25.11+abcd1234", Packages: []nixtest.Package{{Name: "hello", Version: "2.12"}}},
		nixtest.Home{Label: "25.11+abcd1234", Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}}},
		nixtest.Home{Packages: []nixtest.Package{{Name: "hello", Version: "2.13"}, {Name: "jq", Version: "1.7"}}},
	)
	h := nixtest.NewHome(t)

	h.Boot(p[0]) // the profile is set first; current-home still names nothing
	g := discoverHome(t, h, p[0], rev)
	if number(g) != 1 || g.StorePath != p[0] || g.Scope != nixinfo.HomeManager || g.User != "alice" || g.Hostname != "laptop" ||
		g.Revision != rev || g.Dirty || g.Label != "25.11+abcd1234" || g.Previous != "" || g.Rollback || g.NixpkgsRevision != "" {
		t.Errorf("first generation: %+v", g)
	}
	if g.Platform != nixinfo.Linux && g.Platform != nixinfo.NixOS {
		t.Errorf("platform %q on Linux", g.Platform)
	}
	h.Activate(p[0])

	h.Switch(p[1])
	g = discoverHome(t, h, "", rev[:12]+"-dirty")
	if number(g) != 2 || g.Revision != rev[:12] || !g.Dirty || g.Previous != p[0] || g.Rollback {
		t.Errorf("second generation: %+v", g)
	}

	// home-manager switch --test: no generation; before it, the profile's.
	h.Activate(p[2])
	g = discoverHome(t, h, "", "")
	if g.Number != nil || g.StorePath != p[2] || g.Revision != "" || g.Label != "" || g.Previous != p[1] {
		t.Errorf("test activation: %+v", g)
	}

	// home-manager switch --rollback: generation 2 again, while 3 exists.
	h.Switch(p[2])
	h.Rollback()
	g = discoverHome(t, h, "", rev)
	if number(g) != 2 || !g.Rollback || g.Previous != p[0] || g.StorePath != p[1] {
		t.Errorf("rollback: number %d, %+v", number(g), g)
	}
}

// TestDiscoverScopeMismatchNix: a system where a Home Manager generation
// is expected, and the other way round, is refused with a line that says
// which it is.
func TestDiscoverScopeMismatchNix(t *testing.T) {
	nixtest.Require(t)
	sys := nixtest.Build(t, nixtest.System{Host: "laptop", Label: "24.05", Salt: "mismatch"})
	home := nixtest.BuildHome(t, nixtest.Home{Salt: "mismatch"})
	dir := t.TempDir()
	_, err := nixinfo.Discover(context.Background(), nixinfo.Options{Scope: nixinfo.HomeManager, CurrentSystem: sys[0], Profile: filepath.Join(dir, "home-manager"), Hostname: "h"})
	if !errors.Is(err, nixinfo.ErrNotHomeManager) || !strings.Contains(err.Error(), "there): a NixOS or nix-darwin system, whose deploys are the scope system's") {
		t.Errorf("a system as a Home Manager generation: %v", err)
	}
	_, err = nixinfo.Discover(context.Background(), nixinfo.Options{CurrentSystem: home[0], Profile: filepath.Join(dir, "system"), Hostname: "h"})
	if !errors.Is(err, nixinfo.ErrNotNixSystem) || !strings.Contains(err.Error(), "a Home Manager generation, whose deploys are the scope home-manager's") {
		t.Errorf("a Home Manager generation as the system: %v", err)
	}
}

func TestDiscoverNotHomeManager(t *testing.T) {
	dir := t.TempDir()
	_, err := nixinfo.Discover(context.Background(), nixinfo.Options{Scope: nixinfo.HomeManager, CurrentSystem: filepath.Join(dir, "current-home"), Profile: filepath.Join(dir, "home-manager"), Hostname: "h", User: "u"})
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "current Home Manager generation "+dir+"/current-home: ") {
		t.Errorf("before the first generation: %v", err)
	}
	for _, c := range []struct{ name, missing string }{
		{"empty", "activate"},
		{"activate-only", "home-path"},
	} {
		store := filepath.Join(dir, c.name)
		if err := os.Mkdir(store, 0o755); err != nil {
			t.Fatal(err)
		}
		if c.missing == "home-path" {
			if err := os.WriteFile(filepath.Join(store, "activate"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, err := nixinfo.Discover(context.Background(), nixinfo.Options{Scope: nixinfo.HomeManager, CurrentSystem: store, Profile: filepath.Join(dir, "home-manager"), Hostname: "h", User: "u"})
		if !errors.Is(err, nixinfo.ErrNotHomeManager) || errors.Is(err, nixinfo.ErrNotNixSystem) || !strings.Contains(err.Error(), "(no "+c.missing+" there)") {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}
