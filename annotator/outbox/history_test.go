package outbox

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHistory: every deploy settled (delivered or dropped) goes into the
// state's history in the order recorded, an older one delivered late in
// its place, the oldest dropped beyond HistoryLimit; the deploys still
// spooled come after it, the newest last, rollouts left out. Each keeps
// its generation and revision as recorded.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	o := openOutbox(t, dir, nil)
	var entries []*Entry
	for i := range HistoryLimit + 3 {
		e := discovered(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-web-1", i), i+1, fmt.Sprintf("rev%d", i))
		if err := o.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	rollout := testEntry(deployTime, "rollout0123456789abcdefghijklmn")
	rollout.Rollout, rollout.StorePath = true, ""
	if err := o.Add(t.Context(), rollout, 100); err != nil {
		t.Fatal(err)
	}
	// The second delivered late, after the third; the last two stay spooled.
	order := []int{0, 2, 1}
	for i := 3; i < len(entries)-2; i++ {
		order = append(order, i)
	}
	for _, i := range order {
		if i == 5 {
			if _, err := o.Drop(t.Context(), entries[i].ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := o.MarkDelivered(t.Context(), entries[i], "ann_x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.MarkDelivered(t.Context(), rollout, "ann_r"); err != nil {
		t.Fatal(err)
	}
	st, err := o.readStateAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != HistoryLimit {
		t.Fatalf("state keeps %d deploys, want %d", len(st.History), HistoryLimit)
	}
	// The state keeps deploys 2 … 32 settled and 0 … 32 minus the oldest.
	settled := len(entries) - 2
	for j, d := range st.History {
		e := entries[settled-HistoryLimit+j]
		if d.StorePath != e.StorePath || *d.Generation != *e.Generation || d.Revision != e.Discovered.Revision || d.Seq != e.Seq || !d.Time.Equal(e.Time) {
			t.Fatalf("history[%d] = %+v, want deploy %s", j, d, e.StorePath)
		}
	}
	h, err := o.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != HistoryLimit || h[len(h)-1].StorePath != entries[len(entries)-1].StorePath || h[len(h)-2].StorePath != entries[len(entries)-2].StorePath {
		t.Errorf("History() ends %+v, want the spooled deploys last", h[len(h)-2:])
	}
}

// TestHistoryOfOlderState: state written before the history was kept (the
// version 1 test data) reads with no history; History() is the deploy it
// settled last and those still spooled; the next settle writes version 3,
// its history starting with that deploy.
func TestHistoryOfOlderState(t *testing.T) {
	dir := copyState(t, filepath.Join("testdata", "v1"))
	o := openOutbox(t, dir, nil)
	st, err := o.readStateAll()
	if err != nil || st.Last == nil || st.History != nil {
		t.Fatalf("version 1 state: %+v, %v", st, err)
	}
	h, err := o.History()
	if err != nil {
		t.Fatal(err)
	}
	// The settled gen 41, then the spooled gen 42, gen 43, test, rollback.
	if len(h) != 5 || h[0].StorePath != st.Last.StorePath || *h[0].Generation != 41 || *h[1].Generation != 42 || h[3].Generation != nil {
		t.Fatalf("history of version 1 state: %+v", h)
	}
	pending := spooled(t, o)
	if err := o.MarkDelivered(t.Context(), pending[0], "ann_000002"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		t.Fatal(err)
	}
	if st, err = parseState(b); err != nil || st.Version != 3 || len(st.History) != 2 || *st.History[0].Generation != 41 || *st.History[1].Generation != 42 {
		t.Errorf("state written: %+v, %v", st, err)
	}
}

// BenchmarkHistory: what recording adds to judge a deploy by the history:
// reading a state holding a full history, with a deploy still spooled.
//
//	go test -run '^$' -bench History -benchmem ./annotator/outbox/
func BenchmarkHistory(b *testing.B) {
	dir := b.TempDir()
	o, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	for i := range HistoryLimit + 1 {
		e := discovered(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-web-1", i), i+1, "0123456789abcdef0123456789abcdef01234567")
		if err := o.Add(b.Context(), e, 100); err != nil {
			b.Fatal(err)
		}
		if i < HistoryLimit {
			if err := o.MarkDelivered(b.Context(), e, "ann_x"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		h, err := o.History()
		if err != nil || len(h) != HistoryLimit {
			b.Fatalf("%d, %v", len(h), err)
		}
	}
}
