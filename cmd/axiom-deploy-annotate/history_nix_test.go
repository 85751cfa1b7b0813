package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// TestRollbackByHistoryNix: a rollback whose newer generation is deleted
// (deploy-rs: nix-env --rollback, then --delete-generations) leaves the
// profile with no generation newer than the running one, and a system
// re-activated after garbage collection deleted its generation is no
// generation at all; either is a rollback to the generation the history
// of deploys remembers, with its revision, as the module runs the command
// (record after the switch, then flush).
func TestRollbackByHistoryNix(t *testing.T) {
	cases := []struct {
		name string
		undo func(m *nixtest.Machine, p []string)
		// profileAt is the generation the profile is left at.
		profileAt int
	}{
		{"generation deleted after the rollback", func(m *nixtest.Machine, p []string) {
			m.Rollback()
			m.DeleteGenerations("3")
		}, 2},
		{"old generations deleted, then re-activated", func(m *nixtest.Machine, p []string) {
			m.DeleteGenerations("old")
			m.Activate(p[1])
		}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t)
			p := nixtest.Build(t,
				nixtest.System{Host: "web1", Label: "24.05.1", Salt: "history"},
				nixtest.System{Host: "web1", Label: "24.05.2", Revision: revA, Salt: "history"},
				nixtest.System{Host: "web1", Label: "24.05.3", Revision: revB, Salt: "history"},
			)
			for _, sys := range p {
				h.m.Switch(sys)
				h.mustRun("record")
				h.mustRun("flush")
			}
			c.undo(h.m, p)
			if h.m.Generation() != c.profileAt {
				t.Fatalf("the profile is at generation %d, want %d", h.m.Generation(), c.profileAt)
			}
			gone := 3
			if c.profileAt == 3 {
				gone = 2
			}
			if _, err := os.Lstat(fmt.Sprintf("%s-%d-link", h.m.Profile(), gone)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("generation %d still there: %v", gone, err)
			}
			h.mustRun("record")
			h.mustRun("flush")
			anns := h.axiom.Annotations()
			if len(anns) != 4 {
				t.Fatalf("%d annotations after four deploys", len(anns))
			}
			if want := "web1 rollback to gen 2 (0123456)"; anns[3].Title != want {
				t.Errorf("title %q, want %q", anns[3].Title, want)
			}
			if !strings.Contains(anns[3].Description, "rollback to generation 2") || !strings.Contains(anns[3].Description, "Commit: "+revA) ||
				!strings.Contains(anns[3].Description, "Previous: "+p[2]) {
				t.Errorf("description:\n%s", anns[3].Description)
			}
			delivered := 0
			for _, s := range h.otlp.Spans() {
				if s.Name == "deliver" && s.Attr("nix.store_path") == p[1] && s.Attr("nix.rollback") == "true" {
					delivered++
					if s.Attr("nix.generation") != "2" || s.Attr("vcs.ref.head.revision") != revA {
						t.Errorf("deliver span: generation %q, revision %q", s.Attr("nix.generation"), s.Attr("vcs.ref.head.revision"))
					}
				}
			}
			if delivered != 1 {
				t.Errorf("%d deliver spans of the rollback, want 1", delivered)
			}
		})
	}
}
