package nixinfo

import (
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
)

// TestAddSnapshotRefuses: a snapshot this program would not have written is
// no snapshot: a path outside the store, a name or version its path does
// not give, sizes past an exbibyte.
func TestAddSnapshotRefuses(t *testing.T) {
	sys := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-web-24.05"
	good := func() *snapshot.Closure {
		return &snapshot.Closure{System: sys, Paths: []snapshot.Path{
			{Path: sys, Name: "nixos-system-web", Version: "24.05", NarSize: 10, References: []int{1}},
			{Path: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-openssl-3.0.13-dev", Name: "openssl", Version: "3.0.13", NarSize: 20},
		}}
	}
	if c, err := (storeGraph{}).addSnapshot(good()); err != nil || c.size != 30 || len(c.paths) != 2 {
		t.Fatalf("addSnapshot of a good snapshot = %+v, %v", c, err)
	}
	for name, change := range map[string]func(s *snapshot.Closure){
		"outside the store": func(s *snapshot.Closure) {
			s.Paths[1].Path = "/etc/0123456789abcdfghijklmnpqrsvwxyz-openssl-3.0.13-dev"
		},
		"another version": func(s *snapshot.Closure) { s.Paths[1].Version = "3.0.14" },
		"another name":    func(s *snapshot.Closure) { s.Paths[0].Name = "nixos-system" },
		"too large":       func(s *snapshot.Closure) { s.Paths[0].NarSize, s.Paths[1].NarSize = maxClosureSize, 1 },
		"huge path":       func(s *snapshot.Closure) { s.Paths[1].NarSize = 1 << 63 },
	} {
		s := good()
		change(s)
		g := storeGraph{}
		if _, err := g.addSnapshot(s); err == nil || strings.Contains(err.Error(), "\n") || len(g) != 0 {
			t.Errorf("%s: addSnapshot = %v, %d paths added; want a one-line error and none", name, err, len(g))
		}
	}
}
