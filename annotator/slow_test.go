package annotator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
)

// perDeploy counts the annotations Axiom holds for each deploy time.
func perDeploy(fake *fakeaxiom.Server) map[time.Time]int {
	n := map[time.Time]int{}
	for _, a := range fake.Annotations() {
		n[a.Time]++
	}
	return n
}

// posts counts the POSTs Axiom received.
func posts(fake *fakeaxiom.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost {
			n++
		}
	}
	return n
}

// TestSlowAxiomAnsweredInTheRun: an Axiom that stores each annotation but
// answers later than one attempt's time limit, still within the run's
// deadline, gets each deploy once, in the run that sent it: a request sent
// is waited for, not sent again on another connection. (With Axiom
// answering after 6 s and --timeout 8s, a deploy was stored three times.)
func TestSlowAxiomAnsweredInTheRun(t *testing.T) {
	const deploys = 5
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	delivered := 0
	for i := range deploys {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-host", i))
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
		fake.Fail(fakeaxiom.Fault{Delay: time.Second, Method: http.MethodPost})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2, attemptTimeout: 300 * time.Millisecond}, log), log)
		cancel()
		delivered += len(res.Delivered)
		fake.WaitIdle()
	}
	counts := perDeploy(fake)
	t.Logf("%d deploys, %d POSTs, %d delivered in the run that sent them, %d annotations stored", deploys, posts(fake), delivered, len(fake.Annotations()))
	if len(counts) != deploys || len(fake.Annotations()) != deploys || posts(fake) != deploys {
		t.Errorf("%d annotations for %d deploys from %d POSTs, want exactly one each", len(fake.Annotations()), len(counts), posts(fake))
	}
	if delivered != deploys {
		t.Errorf("%d delivered by the run that sent them, want %d: the answer came within the deadline", delivered, deploys)
	}
}

// TestSlowAxiomAnsweredAfterTheRun: an Axiom that stores each annotation
// only after the run that sent it has ended, while the next run comes at
// once, gets each deploy once: the next run looks it up, does not find it
// yet, and does not send it again; the run after finds it.
func TestSlowAxiomAnsweredAfterTheRun(t *testing.T) {
	const deploys = 5
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	flush := func() DeliveryRun {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2, attemptTimeout: 200 * time.Millisecond}, log), log)
	}
	found := 0
	for i := range deploys {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-host", i))
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		fake.Fail(fakeaxiom.Fault{Until: release, Method: http.MethodPost})
		if res := flush(); !errors.Is(res.Err, target.ErrUnavailable) { // the run that sends it ends first
			t.Fatalf("deploy %d, the sending run: %+v", i, res)
		}
		if res := flush(); !errors.Is(res.Err, target.ErrInFlight) { // the next, at once
			t.Fatalf("deploy %d, the next run: %+v, want it left in flight", i, res)
		}
		close(release)
		fake.WaitIdle()
		res := flush() // the one after: Axiom has stored it
		if res.Err != nil || len(res.Delivered) != 1 {
			t.Fatalf("deploy %d, the run after: %+v", i, res)
		}
		found++
	}
	counts := perDeploy(fake)
	t.Logf("%d deploys, %d POSTs, %d annotations stored, %d found by a later run's lookup", deploys, posts(fake), len(fake.Annotations()), found)
	if len(counts) != deploys || posts(fake) != deploys {
		t.Errorf("%d deploys annotated from %d POSTs, want %d from %d", len(counts), posts(fake), deploys, deploys)
	}
	for at, n := range counts {
		if n != 1 {
			t.Errorf("deploy at %s stored %d times", at, n)
		}
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left in the spool", len(left))
	}
}

// TestUnansweredSentAgainLater: a POST that went unanswered and was never
// stored is sent again once Axiom can no longer be storing it, after a
// lookup that does not find it.
func TestUnansweredSentAgainLater(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	fake.Fail(fakeaxiom.Fault{Hang: true, Method: http.MethodPost})
	flush := func(settle time.Duration) DeliveryRun {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, settle: settle}, log), log)
	}
	if res := flush(time.Minute); !errors.Is(res.Err, target.ErrUnavailable) {
		t.Fatalf("first run: %+v", res)
	}
	if res := flush(time.Minute); !errors.Is(res.Err, target.ErrInFlight) || len(fake.Annotations()) != 0 {
		t.Fatalf("a run within the settling time: %+v", res)
	}
	if res := flush(time.Nanosecond); res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("a run after it: %+v", res)
	}
	if got := requests(fake); len(got) != 4 || got[3] != "POST 201" {
		t.Errorf("requests %q, want POST, GET, GET, POST", got)
	}
	storedOnce(t, fake, e)
}
