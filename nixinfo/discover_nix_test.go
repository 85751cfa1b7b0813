package nixinfo_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

const rev = "0123456789abcdef0123456789abcdef01234567"

func discover(t *testing.T, m *nixtest.Machine, previous string) *nixinfo.Generation {
	t.Helper()
	g, err := nixinfo.Discover(context.Background(), nixinfo.Options{
		CurrentSystem: m.CurrentSystem(), Profile: m.Profile(), Hostname: "web1", Previous: previous,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func number(g *nixinfo.Generation) int {
	if g.Number == nil {
		return -1
	}
	return *g.Number
}

func TestDiscoverNixOSGenerationsNix(t *testing.T) {
	nixtest.Require(t)
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Revision: rev, NixpkgsRevision: "feedface"},
		nixtest.System{Host: "web1", Label: "24.05.2", Revision: rev[:12] + "-dirty"},
		nixtest.System{Host: "web1", Label: "24.05.3", NoVersionInfo: true},
	)
	m := nixtest.NewMachine(t)

	m.Switch(p[0])
	g := discover(t, m, "")
	if number(g) != 1 || g.StorePath != p[0] || g.Revision != rev || g.Dirty || g.Label != "24.05.1" ||
		g.Platform != nixinfo.NixOS || g.Previous != "" || g.Rollback || g.NixpkgsRevision != "feedface" || g.Hostname != "web1" {
		t.Errorf("first generation: %+v", g)
	}

	m.Switch(p[1])
	g = discover(t, m, "")
	if number(g) != 2 || g.Revision != rev[:12] || !g.Dirty || g.Previous != p[0] || g.Rollback {
		t.Errorf("second generation: %+v", g)
	}

	// nixos-rebuild test: no generation, the previous system is the profile's.
	m.Activate(p[2])
	g = discover(t, m, "")
	if g.Number != nil || g.StorePath != p[2] || g.Revision != "" || g.Label != "24.05.3" || g.Previous != p[1] {
		t.Errorf("test activation: %+v", g)
	}

	// A recorded previous system wins over the generation before.
	m.Switch(p[1])
	if g = discover(t, m, p[2]); g.Previous != p[2] {
		t.Errorf("previous = %s, want the recorded %s", g.Previous, p[2])
	}

	// Rollback: generation 2 again, while generation 3 exists.
	m.Switch(p[0])
	m.Rollback()
	g = discover(t, m, "")
	if number(g) != 2 || !g.Rollback || g.Previous != p[0] {
		t.Errorf("rollback: number %d, %+v", number(g), g)
	}
}

func TestDiscoverDarwinNix(t *testing.T) {
	nixtest.Require(t)
	p := nixtest.Build(t, nixtest.System{Darwin: true, Label: "25.05.abc", Revision: rev})
	m := nixtest.NewMachine(t)
	m.Switch(p[0])
	g := discover(t, m, "")
	if g.Platform != nixinfo.Darwin || g.Revision != rev || g.Label != "25.05.abc" || number(g) != 1 {
		t.Errorf("darwin: %+v", g)
	}
}

func TestDiscoverBrokenLinksNix(t *testing.T) {
	nixtest.Require(t)
	p := nixtest.Build(t, nixtest.System{Label: "24.05"})
	m := nixtest.NewMachine(t)
	m.Switch(p[0])
	dir := filepath.Dir(m.Profile())
	// A dangling generation and two links that point at each other.
	for _, l := range [][2]string{
		{"/nix/store/00000000000000000000000000000000-gone", "system-7-link"},
		{"system-9-link", "system-8-link"},
		{"system-8-link", "system-9-link"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	g := discover(t, m, "")
	if number(g) != 1 || g.Rollback {
		t.Errorf("with broken links: number %d, %+v", number(g), g)
	}
}

func TestDiscoverErrors(t *testing.T) {
	dir := t.TempDir()
	notNix := filepath.Join(dir, "system")
	if err := os.Mkdir(notNix, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current")
	if err := os.Symlink(notNix, link); err != nil {
		t.Fatal(err)
	}
	_, err := nixinfo.Discover(context.Background(), nixinfo.Options{CurrentSystem: link, Profile: filepath.Join(dir, "profile"), Hostname: "h"})
	if !errors.Is(err, nixinfo.ErrNotNixSystem) {
		t.Errorf("plain directory: err = %v, want ErrNotNixSystem", err)
	}
	_, err = nixinfo.Discover(context.Background(), nixinfo.Options{CurrentSystem: filepath.Join(dir, "missing"), Profile: filepath.Join(dir, "profile"), Hostname: "h"})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing current system: err = %v", err)
	}
}

// TestDiscoverPreviousNotStorePathNix gives Discover recorded previous
// systems that are no store paths, as a state file could hold: each is
// passed over with a warning for the generation before.
func TestDiscoverPreviousNotStorePathNix(t *testing.T) {
	nixtest.Require(t)
	p := nixtest.Build(t, nixtest.System{Host: "web1", Label: "24.05.1"}, nixtest.System{Host: "web1", Label: "24.05.2"})
	m := nixtest.NewMachine(t)
	m.Switch(p[0])
	m.Switch(p[1])
	for _, previous := range []string{
		"--help",
		"/etc",
		"/nix/store/../etc",
		p[0] + "/../../../etc",
		p[0] + "/sw",
		p[0][1:],
		"github:NixOS/nixpkgs",
		m.Profile(), // a link to a store path, not one
	} {
		var log strings.Builder
		g, err := nixinfo.Discover(context.Background(), nixinfo.Options{
			CurrentSystem: m.CurrentSystem(), Profile: m.Profile(), Hostname: "web1", Previous: previous,
			Log: slog.New(slog.NewTextHandler(&log, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if g.Previous != p[0] {
			t.Errorf("Previous %q: previous = %q, want the generation before, %s", previous, g.Previous, p[0])
		}
		if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "not a store path") {
			t.Errorf("Previous %q: no warning that it is not a store path; log:\n%s", previous, log.String())
		}
	}
}
