package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
)

// TestHistoryKeepsHealth: a deploy's commit time goes into its spool entry
// (and only when known: an entry without one is written as before), and
// once delivered its commit time and judged health go into the state's
// history, where state of version 3 written without them reads as unknown.
func TestHistoryKeepsHealth(t *testing.T) {
	dir := t.TempDir()
	o := openOutbox(t, dir, nil)
	commit := deployTime.Add(-time.Hour).UTC()
	withTime := discovered(deployTime, "00000000000000000000000000000001-nixos-system-web-1", 1, "aaaaaaa")
	withTime.Discovered.CommitTime = &commit
	without := discovered(deployTime.Add(time.Minute), "00000000000000000000000000000002-nixos-system-web-1", 2, "bbbbbbb")
	for _, e := range []*Entry{withTime, without} {
		if err := o.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
	}
	pending := spooled(t, o)
	if c := pending[0].Discovered.CommitTime; c == nil || !c.Equal(commit) {
		t.Errorf("spooled commit time %v, want %v", c, commit)
	}
	b, err := os.ReadFile(filepath.Join(dir, spoolName, pending[1].ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("commitTime")) || bytes.Contains(b, []byte("unhealthySince")) {
		t.Errorf("an entry without a commit time names one:\n%s", b)
	}
	pending[0].Health = &health.Report{Status: health.Failed, Failed: []string{"nginx.service"}}
	if err := o.MarkDelivered(t.Context(), pending[0], "ann_1"); err != nil {
		t.Fatal(err)
	}
	h, err := o.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Health != health.Failed || h[0].CommitTime == nil || !h[0].CommitTime.Equal(commit) || h[1].Health != "" {
		t.Fatalf("history %+v, want the delivered deploy failed with its commit time, the spooled one not judged", h)
	}
	// Judged again with health known, a deploy the history holds keeps
	// the health; one with none does not erase it.
	d := h[0]
	d.Health = health.Healthy
	if got := remember(h, d); got[0].Health != health.Healthy || h[0].Health != health.Failed {
		t.Errorf("remember: %v (was %v)", got[0].Health, h[0].Health)
	}
	d.Health = ""
	if got := remember(h, d); got[0].Health != health.Failed {
		t.Errorf("remember without health: %v", got[0].Health)
	}

	older := []byte(`{"version": 3, "last": null, "history": [{"seq": 1, "storePath": "/nix/store/a", "generation": 1, "revision": "aaaaaaa", "time": "2026-03-14T15:09:26Z"}]}`)
	st, err := parseState(older)
	if err != nil || len(st.History) != 1 || st.History[0].Health != "" || st.History[0].CommitTime != nil || st.History[0].Rollback {
		t.Errorf("version 3 state without health: %+v, %v", st, err)
	}
}
