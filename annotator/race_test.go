package annotator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestRecordsRaceFlushes: deploys recorded one after the other while 3 to 6
// other runs deliver and tidy the same state directory are never lost to
// another run's housekeeping, and each reaches Axiom exactly once. Bounded:
// 300 deploys, or fewer when a minute and a half has passed.
func TestRecordsRaceFlushes(t *testing.T) {
	if testing.Short() {
		t.Skip("a race of hundreds of runs")
	}
	const (
		deploys = 300
		round   = 50
		limit   = 90 * time.Second
	)
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	sender := newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log)
	ctx, cancel := context.WithTimeout(context.Background(), limit+time.Minute)
	defer cancel()

	// flush is what a flush run does: open the state directory, deliver
	// unless another run is delivering, close.
	var flushes, flushErrors atomic.Int64
	flush := func() {
		flushes.Add(1)
		s, err := outbox.Open(dir, log)
		if err != nil {
			flushErrors.Add(1)
			return
		}
		defer s.Close()
		opts := Options{Log: log, Settings: testSettings}
		sender.apply(&opts)
		if _, err := New(s, opts).Deliver(ctx, false); err != nil && err != outbox.ErrBusy {
			flushErrors.Add(1)
		}
	}
	// record is what a record run does.
	record := func(i int) error {
		s, err := outbox.Open(dir, log)
		if err != nil {
			return err
		}
		defer s.Close()
		at := deployTime.Add(time.Duration(i) * time.Second)
		rec, err := New(s, Options{Log: log, Settings: testSettings, SpoolLimit: deploys}).Record(ctx, testGeneration(fmt.Sprintf("/nix/store/%032d-nixos-system-host", i)), at, false)
		if err == nil && rec.Entry == nil {
			err = fmt.Errorf("not recorded: %+v", rec)
		}
		return err
	}

	start := time.Now()
	var recorded, lost int
	var firstLoss error
	for i := 0; i < deploys && time.Since(start) < limit; {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 + (i/round)%4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						flush()
					}
				}
			}()
		}
		for end := i + round; i < end && i < deploys; i++ {
			if err := record(i); err != nil {
				lost++
				if firstLoss == nil {
					firstLoss = err
				}
				continue
			}
			recorded++
		}
		close(stop)
		wg.Wait()
	}
	flush()

	times := map[time.Time]int{}
	for _, a := range fake.Annotations() {
		times[a.Time]++
	}
	twice := 0
	for _, n := range times {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%d deploys recorded, %d lost; %d annotations for %d deploys, %d sent more than once; %d flush runs, %d failed; %s",
		recorded, lost, len(fake.Annotations()), len(times), twice, flushes.Load(), flushErrors.Load(), time.Since(start).Round(time.Millisecond))
	if lost > 0 {
		t.Errorf("%d of %d deploys lost, the first: %v", lost, recorded+lost, firstLoss)
	}
	if len(times) != recorded || twice > 0 {
		t.Errorf("%d deploys annotated (%d more than once), want each of the %d recorded once", len(times), twice, recorded)
	}
	if n := flushErrors.Load(); n > 0 {
		t.Errorf("%d flush runs failed", n)
	}
	if left := spooled(t, openOutbox(t, dir, log)); len(left) != 0 {
		t.Errorf("%d entries left in the spool", len(left))
	}
}
