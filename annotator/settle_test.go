package annotator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestSettleCountsWhatIsNew: a run that found another delivering leaves
// what was spooled then to it, and settles for what was recorded after;
// with something new, Settle releases the spool lock for another round.
func TestSettleCountsWhatIsNew(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	other := newAnnotator(t, dir, fake.Endpoint())
	if err := other.store.LockDelivery(ctxFor(t, time.Second), false); err != nil {
		t.Fatal(err)
	}
	defer other.store.Close()

	a := newAnnotator(t, dir, fake.Endpoint())
	if err := a.store.Add(ctxFor(t, 5*time.Second), testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-before"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Deliver(ctxFor(t, time.Second), false); !errors.Is(err, ErrBusy) {
		t.Fatalf("deliver while another run delivers: %v, want ErrBusy", err)
	}
	// (Settle would keep the lock now, until this process exits.)
	if n, err := a.fresh(); err != nil || n != 0 {
		t.Fatalf("with only the other run's entry spooled: %d new, %v; want 0", n, err)
	}
	if err := a.store.Add(ctxFor(t, 5*time.Second), testEntry(deployTime.Add(time.Minute), "abcdefghijklmnopqrstuv0123456789-nixos-system-after"), 100); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Settle(ctxFor(t, 5*time.Second), false); err != nil || n != 1 {
		t.Fatalf("settle with one recorded meanwhile: %d new, %v; want 1", n, err)
	}
	// The lock was released for the round that delivers it.
	if err := a.store.change(ctxFor(t, 5*time.Second), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestSettleHoldsUntilReaped: a run that settled keeps the spool lock
// until it exits, and a record waiting for that lock goes on only once the
// process is gone, reaped by its parent (systemd, for the flush service,
// which ends the flush's job in the same step), not as soon as it exited:
// otherwise the start the record's unit asks for could be merged into the
// job of the flush that is ending.
func TestSettleHoldsUntilReaped(t *testing.T) {
	if os.Getenv("ANNOTATOR_TEST_SETTLE") != "" {
		t.Skip("the helper process's own run")
	}
	dir := t.TempDir()
	cmd, stdin := helperProcess(t, "TestHelperSettle", "ANNOTATOR_TEST_SETTLE", dir, "settled")

	log, waiting := notifyLog(t, "not gone yet")
	store, err := OpenStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(chan error, 1)
	go func() {
		recorded <- store.Add(context.Background(), testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host"), 100)
	}()
	stdin.Close() // the helper exits, a zombie until this process reaps it
	select {
	case <-waiting:
	case err := <-recorded:
		t.Fatalf("recorded before the settled run was reaped: %v", err)
	}
	select {
	case err := <-recorded:
		t.Fatalf("recorded before the settled run was reaped: %v", err)
	default:
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	select {
	case err := <-recorded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(endedWait):
		t.Fatal("still waiting after the settled run was reaped")
	}
}

// TestHelperSettle is the other process of TestSettleHoldsUntilReaped: it
// settles an empty spool, then exits when its standard input closes.
func TestHelperSettle(t *testing.T) {
	dir := os.Getenv("ANNOTATOR_TEST_SETTLE")
	if dir == "" {
		t.Skip("run by TestSettleHoldsUntilReaped")
	}
	s, err := OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := New(s, Options{})
	if _, err := a.Deliver(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Settle(context.Background(), false); err != nil || n != 0 {
		t.Fatalf("settle: %d, %v", n, err)
	}
	fmt.Println("settled")
	bufio.NewReader(os.Stdin).ReadString('\n')
	// Exits holding the spool lock.
}
