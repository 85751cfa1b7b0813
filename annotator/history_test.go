package annotator

import (
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// TestByHistory: a system deployed before that is not the newest is a
// rollback to it, named as it was; the newest, a system never deployed,
// or one deployed only as a test activation is judged as discovery found
// it.
func TestByHistory(t *testing.T) {
	gen := func(n int) *int { return &n }
	history := []outbox.Deployed{
		{Seq: 1, StorePath: "/nix/store/a", Generation: gen(1), Revision: "aaa"},
		{Seq: 2, StorePath: "/nix/store/t", Revision: "ttt"},
		{Seq: 3, StorePath: "/nix/store/b", Generation: gen(2), Revision: "bbb", Dirty: true},
		{Seq: 4, StorePath: "/nix/store/c", Generation: gen(3), Revision: "ccc"},
	}
	cases := []struct {
		system   string
		found    *int
		rollback bool
		number   *int
		revision string
	}{
		{"/nix/store/b", nil, true, gen(2), "bbb"},    // generation deleted
		{"/nix/store/b", gen(2), true, gen(2), "bbb"}, // newer one deleted
		{"/nix/store/a", gen(7), true, gen(1), "aaa"}, // as it was
		{"/nix/store/c", gen(3), false, gen(3), "found"},
		{"/nix/store/t", nil, false, nil, "found"},
		{"/nix/store/new", gen(4), false, gen(4), "found"},
	}
	for _, c := range cases {
		g := &nixinfo.Generation{StorePath: c.system, Number: c.found, Revision: "found"}
		got := byHistory(history, g)
		if got.Rollback != c.rollback || got.Revision != c.revision || (got.Number == nil) != (c.number == nil) ||
			(got.Number != nil && *got.Number != *c.number) {
			t.Errorf("%s (gen %v): rollback %v, gen %v, revision %q", c.system, c.found, got.Rollback, got.Number, got.Revision)
		}
		if g.Rollback || g.Revision != "found" {
			t.Errorf("%s: discovery's generation changed", c.system)
		}
	}
	if got := byHistory(nil, &nixinfo.Generation{StorePath: "/nix/store/a"}); got.Rollback {
		t.Error("no history: a rollback")
	}
}
