package annotator

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestStateFromAnotherMachine: a state.json restored from another machine,
// whose sequence numbers run ahead of this one's, neither records a deploy
// still spooled a second time nor keeps the state from moving on.
func TestStateFromAnotherMachine(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	a := newAnnotator(t, dir, fake.Endpoint())
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	writeStateFile(t, dir, outbox.Settled{Seq: 1000, StorePath: systemOther, Time: deployTime.Add(-time.Hour), AnnotationID: "ann_other", Title: "other gen 9"})

	rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Entry != nil || rec.Pending == nil {
		t.Fatalf("the deploy still spooled was recorded again: %+v", rec)
	}
	if res, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil || res.Err != nil {
		t.Fatalf("%+v, %v", res, err)
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("Axiom holds %d annotations, want 1", n)
	}
	if last, _ := a.outbox.Last(); last == nil || last.StorePath != systemA {
		t.Fatalf("state %+v, want the deploy delivered", last)
	}
	rec, err = a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(2*time.Minute), false)
	if err != nil || rec.Settled == nil {
		t.Errorf("after delivery: %+v, %v; want it annotated already", rec, err)
	}
}

// TestSequenceAtItsEnd: a state.json whose sequence number is the largest
// there is makes one annotation, then the state moves on, and the next run
// finds the deploy annotated.
func TestSequenceAtItsEnd(t *testing.T) {
	for _, seq := range []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 62} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			fake := fakeaxiom.New(testToken)
			defer fake.Close()
			dir := t.TempDir()
			writeStateFile(t, dir, outbox.Settled{Seq: seq, StorePath: systemOther, Time: deployTime.Add(-time.Hour), AnnotationID: "ann_other", Title: "other gen 9"})
			for i := range 3 {
				a := newAnnotator(t, dir, fake.Endpoint())
				if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Duration(i)*time.Minute), false); err != nil {
					t.Fatal(err)
				}
				if res, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil || res.Err != nil {
					t.Fatalf("%+v, %v", res, err)
				}
			}
			if n := len(fake.Annotations()); n != 1 {
				t.Errorf("three runs on one system made %d annotations, want 1", n)
			}
		})
	}
}

// holdSpoolLock holds dir's spool lock, as a run stopped while changing
// the spool would, until the returned function is called.
func holdSpoolLock(t *testing.T, dir string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "spool.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func() { f.Close() }
}

// TestRecordWhileSpoolLockHeld: a run that holds the spool lock for longer
// than a record may wait does not keep the record past its deadline (the
// wait once was a fixed 30 s): the record ends by it, says which lock kept
// it and that nothing was changed, and the next run records the deploy.
func TestRecordWhileSpoolLockHeld(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	a := newAnnotator(t, dir, fake.Endpoint())
	release := holdSpoolLock(t, dir)

	const deadline = time.Second
	start := time.Now()
	_, err := a.Record(ctxFor(t, deadline), testGeneration(systemA), deployTime, false)
	if elapsed := time.Since(start); elapsed > deadline+margin {
		t.Errorf("the record took %s, past its %s deadline", elapsed, deadline)
	}
	if !errors.Is(err, outbox.ErrState) || !strings.Contains(err.Error(), "spool.lock") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("record while another run holds the spool lock: %v; want outbox.ErrState naming the lock", err)
	}
	if pending := spooled(t, a.outbox); len(pending) != 0 {
		t.Fatalf("spool %+v, want nothing changed", pending)
	}
	release()

	rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), false)
	if err != nil || rec.Entry == nil {
		t.Fatalf("the next run: %+v, %v; want the deploy recorded", rec, err)
	}
}
