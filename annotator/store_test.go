package annotator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
)

// TestTwoRunsOneAnnotation: two runs for the same deploy at once, as a
// switch and the timer can start them, leave one annotation.
func TestTwoRunsOneAnnotation(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	const system = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host"
	log, _ := testlog.New(t)

	// run is what the command does: record the deploy unless it is the
	// newest recorded already, then deliver.
	run := func(now time.Time) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := outbox.Open(dir, log)
		if err != nil {
			return "", err
		}
		opts := Options{Log: log, Settings: testSettings}
		newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log).apply(&opts)
		a := New(s, opts)
		rec, err := a.Record(ctx, testGeneration(system), now, false)
		if err != nil {
			return "", err
		}
		if rec.Entry == nil {
			return "already recorded", nil
		}
		res, err := a.Deliver(ctx, true)
		if err != nil || res.Err != nil || len(res.Delivered) != 1 {
			return "", fmt.Errorf("deliver: %+v, %v", res, err)
		}
		return "annotated", nil
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	outcomes := make([]string, 2)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := run(deployTime.Add(time.Duration(i) * time.Millisecond))
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
			outcomes[i] = out
		}()
	}
	close(start)
	wg.Wait()
	slices.Sort(outcomes)
	if want := []string{"already recorded", "annotated"}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %q, want %q", outcomes, want)
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("Axiom holds %d annotations, want 1", n)
	}
}

// TestSpoolInRecordingOrder: the spool gives entries back in the order
// they were recorded, whatever their clocks said, and the next run delivers
// them in that order, each with its own time, then removes them. The newest
// recorded becomes the last annotated.
func TestSpoolInRecordingOrder(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	var times []time.Time
	for _, h := range []int{5, 1, 3, 2, 4} {
		at := deployTime.Add(time.Duration(h) * time.Hour)
		times = append(times, at)
		if err := store.Add(t.Context(), testEntry(at, fmt.Sprintf("%032d-nixos-system-host", h)), 100); err != nil {
			t.Fatal(err)
		}
	}
	var got []time.Time
	for _, e := range spooled(t, store) {
		got = append(got, e.Annotation.Time)
	}
	if !slices.EqualFunc(got, times, time.Time.Equal) {
		t.Fatalf("spool order %v, want %v", got, times)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	if res.Err != nil || len(res.Delivered) != 5 || res.Pending != 0 {
		t.Fatalf("%+v: want all 5 delivered", res)
	}
	got = nil
	for _, a := range fake.Annotations() {
		got = append(got, a.Time)
	}
	if !slices.EqualFunc(got, times, time.Time.Equal) {
		t.Errorf("Axiom got them in the order %v, want %v", got, times)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
	if last, _ := store.Last(); last == nil || !last.Time.Equal(times[4]) {
		t.Errorf("last %+v, want the deploy recorded last", last)
	}
}

// TestClockBehindRecordedTime: a state whose last time is in the future (a
// clock set back, a machine restored) neither duplicates the annotation on
// every run nor keeps the state from moving on.
func TestClockBehindRecordedTime(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	log, _ := testlog.New(t)
	future := deployTime.Add(24 * time.Hour)
	state := fmt.Sprintf(`{"version":1,"last":{"storePath":"/nix/store/%s","generation":41,"time":%q,"annotationId":"ann_old","title":"host gen 41"}}`,
		"abcdefghijklmnopqrstuv0123456789-nixos-system-old", future.Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	const system = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host"
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := outbox.Open(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Log: log, Settings: testSettings}
		newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log).apply(&opts)
		a := New(s, opts)
		rec, err := a.Record(ctx, testGeneration(system), deployTime.Add(time.Duration(i)*time.Minute), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Deliver(ctx, true); err != nil {
			t.Fatal(err)
		}
		cancel()
		if i > 0 && rec.Entry != nil {
			t.Errorf("run %d recorded the same system again", i+1)
		}
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("three runs left %d annotations, want 1", n)
	}
	s, _ := outbox.Open(dir, log)
	if last, _ := s.Last(); last == nil || last.StorePath != system {
		t.Errorf("state %+v, want the system just annotated", last)
	}
}

// TestCrashAfterState: a run that stopped after writing the state but before
// removing the spool file left the entry behind; the next run removes it
// without sending anything.
func TestCrashAfterState(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDelivered(t.Context(), e, "ann_000007"); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveDurably(t.Context(), e); err != nil { // the spool file the crash left
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	if res.Err != nil || res.Pending != 0 {
		t.Fatalf("%+v", res)
	}
	if got := requests(fake); len(got) != 0 {
		t.Errorf("sent %q, want nothing", got)
	}
	if n := len(fake.Annotations()); n != 0 {
		t.Errorf("Axiom holds %d annotations, want none sent again", n)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
	if last, _ := store.Last(); last == nil || last.AnnotationID != "ann_000007" {
		t.Errorf("last %+v", last)
	}
}
