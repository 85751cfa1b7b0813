package annotator

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// slowPost is an Axiom that stores each annotation it is sent, but only
// after delay, and answers then: slower than one attempt's time limit.
func slowPost(delay time.Duration) fakeaxiom.Fault {
	return fakeaxiom.Fault{Delay: delay, Method: http.MethodPost}
}

// perDeploy counts the annotations Axiom holds for each deploy time.
func perDeploy(fake *fakeaxiom.Server) map[time.Time]int {
	n := map[time.Time]int{}
	for _, a := range fake.Annotations() {
		n[a.Time]++
	}
	return n
}

// TestSlowAxiomAnsweredInTheRun: an Axiom that stores each annotation but
// answers later than one attempt's time limit, still within the run's
// deadline, gets each deploy once, in the run that sent it.
func TestSlowAxiomAnsweredInTheRun(t *testing.T) {
	const deploys = 5
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	delivered := 0
	for i := range deploys {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-host", i))
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
		fake.Fail(slowPost(time.Second), slowPost(time.Second), slowPost(time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2, attemptTimeout: 300 * time.Millisecond}, log), log)
		cancel()
		delivered += len(res.Delivered)
		fake.WaitIdle()
	}
	counts := perDeploy(fake)
	t.Logf("%d deploys, %d delivered in the run that sent them, %d annotations stored: %v", deploys, delivered, len(fake.Annotations()), counts)
	if len(counts) != deploys || len(fake.Annotations()) != deploys {
		t.Errorf("%d annotations for %d deploys, want exactly one each", len(fake.Annotations()), len(counts))
	}
	if delivered != deploys {
		t.Errorf("%d delivered by the run that sent them, want %d: the answer came within the deadline", delivered, deploys)
	}
}

// TestSlowAxiomAnsweredAfterTheRun: an Axiom that stores each annotation
// only after the run sending it has ended, while the next runs come at
// once, gets each deploy once: no run sends again what may still be
// stored.
func TestSlowAxiomAnsweredAfterTheRun(t *testing.T) {
	const deploys = 5
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	flush := func(d time.Duration, retries int) FlushResult {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: retries, attemptTimeout: 300 * time.Millisecond}, log), log)
	}
	for i := range deploys {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-host", i))
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		for range 6 {
			fake.Fail(fakeaxiom.Fault{Until: release, Method: http.MethodPost})
		}
		flush(time.Second, 2) // the run that sends it, ending before Axiom answers
		flush(time.Second, 2) // the next, at once
		close(release)
		fake.WaitIdle()
	}
	counts := perDeploy(fake)
	t.Logf("%d deploys, %d annotations stored: %v", deploys, len(fake.Annotations()), counts)
	for at, n := range counts {
		if n != 1 {
			t.Errorf("deploy at %s stored %d times", at, n)
		}
	}
}
