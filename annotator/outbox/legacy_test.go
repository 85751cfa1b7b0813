package outbox

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// copyState copies a state directory from testdata into a new temporary
// one.
func copyState(t *testing.T, from string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(dir, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// jsonObject is a JSON object, generically.
func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVersion1Carried reads testdata/v1, a state directory that the
// command wrote before spool entries had a format of their own (the
// annotation in the Axiom SDK's form under "request"): every entry is read
// whole, in its order, and once written again it is in this version's
// format and says the same, field for field.
func TestVersion1Carried(t *testing.T) {
	dir := copyState(t, filepath.Join("testdata", "v1"))
	o := openOutbox(t, dir, nil)

	last, err := o.Last()
	if err != nil {
		t.Fatal(err)
	}
	want := &Settled{Seq: 1, StorePath: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-web-1-25.11.20251201.a1b2c3d", Generation: intp(41),
		Time: time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC), AnnotationID: "ann_000001", Title: "web-1 gen 41 (0123456)"}
	if !reflect.DeepEqual(last, want) {
		t.Errorf("state %+v, want %+v", last, want)
	}

	pending := spooled(t, o)
	var names []string
	for _, e := range pending {
		names = append(names, e.Name())
	}
	if want := []string{"web-1 gen 42", "web-1 gen 43", "rollout 0123456-dirty: colmena apply failed (exit 1)", "web-1 test", "web-1 rollback to gen 40"}; !slices.Equal(names, want) {
		t.Fatalf("spool %q, want %q", names, want)
	}
	b, c, r, d, e := pending[0], pending[1], pending[2], pending[3], pending[4]
	switch {
	case b.Annotation == nil || b.Annotation.Title != "web-1 gen 42 (0123456)" || b.Attempts != 2 || b.MaybeSent || !strings.Contains(b.LastError, "400") ||
		b.Changes == nil || b.Changes.Total != 4 || b.Discovered == nil || b.Discovered.Previous != last.StorePath:
		t.Errorf("the rejected deploy: %+v", b)
	case c.Annotation == nil || !strings.HasSuffix(c.Annotation.URL, "/commit/0123456789abcdef0123456789abcdef01234567") || !c.MaybeSent || c.Unanswered.IsZero() ||
		c.Discovered == nil || !c.Discovered.Dirty:
		t.Errorf("the deploy whose POST went unanswered: %+v", c)
	case !r.Rollout || r.Annotation == nil || r.Annotation.EndTime.Sub(r.Annotation.Time) != 83*time.Second || r.TraceParent == "":
		t.Errorf("the rollout: %+v", r)
	case d.Annotation != nil || d.Discovered == nil || d.Discovered.Number != nil || d.Generation != nil:
		t.Errorf("the test activation: %+v", d)
	case !e.NoAnnotation || e.Annotation != nil || e.Discovered == nil || !e.Discovered.Rollback:
		t.Errorf("the deploy recorded with annotations off: %+v", e)
	}

	// Written again: this version's format, saying what version 1 said.
	for _, entry := range pending {
		name := entry.ID + ".json"
		before, err := os.ReadFile(filepath.Join("testdata", "v1", "spool", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Update(t.Context(), entry); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(filepath.Join(dir, "spool", name))
		if err != nil {
			t.Fatal(err)
		}
		old, now := jsonObject(t, before), jsonObject(t, after)
		if now["version"] != float64(entryVersion) {
			t.Errorf("%s written as version %v", name, now["version"])
		}
		for from, to := range map[string]string{"request": "annotation", "deploy": "discovered"} {
			if !reflect.DeepEqual(old[from], now[to]) {
				t.Errorf("%s: %q was %v, %q is %v", name, from, old[from], to, now[to])
			}
			delete(old, from)
			delete(now, to)
		}
		delete(now, "version")
		if !maps.EqualFunc(old, now, func(a, b any) bool { return reflect.DeepEqual(a, b) }) {
			t.Errorf("%s: the other fields were %v, are %v", name, old, now)
		}
		again := spooled(t, o)
		if i := slices.IndexFunc(again, func(a *Entry) bool { return a.ID == entry.ID }); i < 0 || !reflect.DeepEqual(again[i], entry) {
			t.Errorf("%s read back differs", name)
		}
	}
}
