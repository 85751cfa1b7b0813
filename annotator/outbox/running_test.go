package outbox

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// discovered is an entry as record makes it: what discovery found, no
// annotation yet.
func discovered(at time.Time, system string, gen int, rev string) *Entry {
	path := "/nix/store/" + system
	return &Entry{StorePath: path, Generation: intp(gen), Time: at, Discovered: &nixinfo.Generation{
		Number: intp(gen), StorePath: path, Hostname: "web-1", Revision: rev, Label: "25.11", Platform: nixinfo.NixOS,
	}}
}

// TestRunning: the deploy a host runs now is the newest still spooled,
// else the one settled last, described by what discovery found; state
// settled since version 2 keeps that, so Running describes a delivered
// deploy as its spool entry did.
func TestRunning(t *testing.T) {
	log, _ := testlog.New(t)
	dir := t.TempDir()
	o := openOutbox(t, dir, log)
	if r, err := o.Running(); err != nil || r != nil {
		t.Fatalf("empty state: %+v, %v", r, err)
	}
	first := discovered(deployTime, "abcdefghijklmnopqrstuv0123456789-nixos-system-web-1", 41, "0123456")
	if err := o.Add(t.Context(), first, 100); err != nil {
		t.Fatal(err)
	}
	want := &Entry{Seq: first.Seq, StorePath: first.StorePath, Generation: first.Generation, Time: first.Time, Discovered: first.Discovered}
	if r, err := o.Running(); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("spooled: %+v, %v; want %+v", r, err, want)
	}
	first.Attempts, first.LastError = 1, "refused"
	if err := o.MarkDelivered(t.Context(), first, "ann_000001"); err != nil {
		t.Fatal(err)
	}
	if r, err := o.Running(); err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("settled: %+v, %v; want %+v", r, err, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		t.Fatal(err)
	}
	st := jsonObject(t, b)
	if st["version"] != float64(stateVersion) || stateVersion != 3 {
		t.Errorf("state written as version %v", st["version"])
	}

	second := discovered(deployTime.Add(time.Hour), "bbcdefghijklmnopqrstuv0123456789-nixos-system-web-1", 42, "89abcde")
	if err := o.Add(t.Context(), second, 100); err != nil {
		t.Fatal(err)
	}
	if r, _ := o.Running(); r == nil || r.StorePath != second.StorePath || r.Discovered.Revision != "89abcde" {
		t.Errorf("a newer deploy spooled: %+v, want it", r)
	}
}

// TestRunningFromVersion1: state written before version 2 is read, but
// says too little to describe the deploy: Running is nil until the next
// deploy settles.
func TestRunningFromVersion1(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "v1", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	log, _ := testlog.New(t)
	o := openOutbox(t, dir, log)
	if last, err := o.Last(); err != nil || last == nil || last.AnnotationID != "ann_000001" {
		t.Fatalf("version 1 state: %+v, %v", last, err)
	}
	if r, err := o.Running(); err != nil || r != nil {
		t.Errorf("version 1 state: running %+v, %v; want none", r, err)
	}
}
