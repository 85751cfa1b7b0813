package render

import (
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

func home(g nixinfo.Generation) *nixinfo.Generation {
	g.Scope, g.User = nixinfo.HomeManager, "alice"
	if g.Hostname == "" {
		g.Hostname = "laptop"
	}
	return &g
}

// TestHomeManagerTitle: a Home Manager generation's title names the user,
// the host and "hm", so that it is never taken for the host's system,
// whatever else the generation is.
func TestHomeManagerTitle(t *testing.T) {
	for _, tc := range []struct {
		g    *nixinfo.Generation
		want string
	}{
		{home(nixinfo.Generation{Number: intp(12), Revision: rev40}), "alice@laptop hm gen 12 (0123456)"},
		{home(nixinfo.Generation{Number: intp(12), Revision: rev40, Dirty: true}), "alice@laptop hm gen 12 (0123456-dirty)"},
		{home(nixinfo.Generation{Number: intp(12)}), "alice@laptop hm gen 12"},
		{home(nixinfo.Generation{Revision: rev40}), "alice@laptop hm test (0123456)"},
		{home(nixinfo.Generation{Number: intp(11), Rollback: true, Revision: rev40}), "alice@laptop hm rollback to gen 11 (0123456)"},
		// What older versions recorded, without a scope, is the system's.
		{&nixinfo.Generation{Hostname: "laptop", Number: intp(12), Revision: rev40}, "laptop gen 12 (0123456)"},
		{&nixinfo.Generation{Hostname: "laptop", Number: intp(12), Scope: nixinfo.System, User: "alice"}, "laptop gen 12"},
	} {
		if got := title(tc.g); got != tc.want {
			t.Errorf("title(%+v) = %q, want %q", *tc.g, got, tc.want)
		}
	}
	long := home(nixinfo.Generation{Number: intp(1)})
	long.User = strings.Repeat("u", 200) + "\x1b[31m"
	if got := Name(long); !strings.HasSuffix(got, " hm gen 1") || len(got) > maxField+len(" hm gen 1") || strings.Contains(got, "\x1b") {
		t.Errorf("a long user's name: %q", got)
	}
}

// TestHomeManagerDescription says Home Manager, its release and the
// generation's path, where a system's says NixOS and System.
func TestHomeManagerDescription(t *testing.T) {
	g := home(nixinfo.Generation{Number: intp(12), Revision: rev40, Label: "25.11+abcd1234", StorePath: "/nix/store/aaaa-home-manager-generation", Previous: "/nix/store/bbbb-home-manager-generation"})
	d := description(Deploy{Generation: g, Diff: &nixinfo.Diff{Changes: []nixinfo.Change{{Name: "hello", Before: []string{"2.12"}, After: []string{"2.13"}}}}})
	for _, want := range []string{
		"alice@laptop Home Manager generation 12, Home Manager 25.11+abcd1234.\n",
		"Commit: " + rev40 + "\n",
		"Generation: /nix/store/aaaa-home-manager-generation\n",
		"Previous: /nix/store/bbbb-home-manager-generation\n",
		"Changes: hello 2.12→2.13",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("description lacks %q:\n%s", want, d)
		}
	}
	for _, not := range []string{"NixOS", "System:"} {
		if strings.Contains(d, not) {
			t.Errorf("description says %q:\n%s", not, d)
		}
	}
	test := description(Deploy{Generation: home(nixinfo.Generation{StorePath: "/nix/store/cccc-home-manager-generation"})})
	if !strings.HasPrefix(test, "alice@laptop Home Manager test activation, no generation.\n") {
		t.Errorf("test activation: %s", test)
	}
}
