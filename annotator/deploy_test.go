package annotator

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target/axiomapi"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestPendingNotQueuedTwice: a deploy Axiom has not taken yet is reported as
// spooled, with its attempts and last error, and neither a second run nor
// --force queues a second copy of it.
func TestPendingNotQueuedTwice(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	a := newAnnotator(t, dir, fake.Endpoint())
	fake.Fail(fakeaxiom.Fault{Status: 503})
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	res, err := a.Deliver(ctxFor(t, 5*time.Second), true)
	if err != nil || res.Err == nil || res.Pending != 1 {
		t.Fatalf("with Axiom failing: %+v, %v", res, err)
	}
	for _, force := range []bool{false, true} {
		rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), force)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Entry != nil || rec.Pending == nil {
			t.Fatalf("force=%v: %+v, want the pending entry and nothing new", force, rec)
		}
		if rec.Pending.Attempts == 0 || !strings.Contains(rec.Pending.LastError, "503") {
			t.Errorf("force=%v: pending entry says %d attempts, last error %q", force, rec.Pending.Attempts, rec.Pending.LastError)
		}
	}
	if n := len(spooled(t, a.outbox)); n != 1 {
		t.Fatalf("%d entries spooled, want 1", n)
	}
	if _, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("Axiom holds %d annotations, want 1", n)
	}
}

// TestRecordDuringDelivery: a run delivering (its lock held, Axiom hanging)
// does not keep a new deploy from being recorded at once, and a later
// delivery sends both, each with its own time.
func TestRecordDuringDelivery(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	delivering := newAnnotator(t, dir, fake.Endpoint())
	if err := delivering.outbox.LockDelivery(ctxFor(t, time.Second), false); err != nil {
		t.Fatal(err)
	}
	defer delivering.outbox.Close()

	a := newAnnotator(t, dir, fake.Endpoint())
	for i, sys := range []string{systemA, systemB} {
		rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(sys), deployTime.Add(time.Duration(i)*time.Minute), false)
		if err != nil || rec.Entry == nil {
			t.Fatalf("record %s while a delivery holds the lock: %+v, %v", sys, rec, err)
		}
	}
	if _, err := a.Deliver(ctxFor(t, time.Second), false); !errors.Is(err, outbox.ErrBusy) {
		t.Fatalf("deliver while another run delivers: %v, want outbox.ErrBusy", err)
	}
	delivering.outbox.Close()
	res, err := a.Deliver(ctxFor(t, 5*time.Second), false)
	if err != nil || len(res.Delivered) != 2 {
		t.Fatalf("%+v, %v: want both delivered", res, err)
	}
	got := fake.Annotations()
	if len(got) != 2 || !got[0].Time.Equal(deployTime) || !got[1].Time.Equal(deployTime.Add(time.Minute)) {
		t.Errorf("annotations %+v, want one at each deploy's time", got)
	}
}

// TestDropRejected: an entry Axiom refuses stays visible with its attempts
// and last error, and can be dropped by id; an unknown id drops nothing.
// The next run on the dropped deploy's system does not record and annotate
// it again (it once did); a new deploy is recorded.
func TestDropRejected(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	a := newAnnotator(t, t.TempDir(), fake.Endpoint())
	fake.Fail(fakeaxiom.Fault{Status: 400})
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	res, err := a.Deliver(ctxFor(t, 5*time.Second), true)
	if err != nil || !errors.Is(res.Err, target.ErrRejected) {
		t.Fatalf("%+v, %v: want it rejected", res, err)
	}
	pending, err := a.Pending()
	if err != nil || len(pending) != 1 || pending[0].Attempts != 1 || !strings.Contains(pending[0].LastError, "400") {
		t.Fatalf("pending %+v, %v: want the entry with 1 attempt and the 400", pending, err)
	}
	if _, err := a.Drop(t.Context(), pending[0].ID, "00000000000000000099-deadbeef"); err == nil {
		t.Fatal("dropping an unknown id: no error")
	}
	if n := len(spooled(t, a.outbox)); n != 1 {
		t.Fatalf("a failed drop removed entries: %d left", n)
	}
	dropped, err := a.Drop(t.Context(), pending[0].ID)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("drop: %v, %v", dropped, err)
	}
	if n := len(spooled(t, a.outbox)); n != 0 {
		t.Errorf("%d entries left after the drop", n)
	}

	rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), false)
	if err != nil || rec.Entry != nil || rec.Settled == nil || rec.Settled.NotAnnotated != outbox.NotAnnotatedDropped {
		t.Fatalf("the next run on the dropped deploy's system: %+v, %v; want it recorded already, as dropped", rec, err)
	}
	if _, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Annotations()); n != 0 {
		t.Errorf("the dropped deploy was annotated: %d annotations", n)
	}
	rec, err = a.Record(ctxFor(t, 5*time.Second), testGeneration(systemB), deployTime.Add(2*time.Minute), false)
	if err != nil || rec.Entry == nil {
		t.Errorf("a new deploy after the drop: %+v, %v; want it recorded", rec, err)
	}
}

// TestNoAnnotation: with annotations off, a deploy is recorded and settled
// without a request to Axiom, and is not recorded twice.
func TestNoAnnotation(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(o *Options, _ *axiomapi.Config) { o.NoAnnotation = true })
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	res, err := a.Deliver(ctxFor(t, 5*time.Second), true)
	if err != nil || res.Err != nil || len(res.Delivered) != 1 || res.Delivered[0].ID != "" {
		t.Fatalf("%+v, %v", res, err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent with annotations off", n)
	}
	rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), false)
	if err != nil || rec.Settled == nil {
		t.Errorf("second record: %+v, %v; want it already recorded", rec, err)
	}
}

// stallFirst is an address that passes connections on to target, but holds
// the first one open without a byte either way: a connection that hangs
// before its request is sent (with TLS, in the handshake).
func stallFirst(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for first := true; ; first = false {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			if first {
				continue
			}
			go func() {
				u, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				t.Cleanup(func() { u.Close() })
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String()
}

// TestAttemptTimeout: a connection that hangs before its request is sent
// uses one attempt's time, not the whole deadline: the delivery tries again
// on a fresh connection within the same run, and the annotation is stored
// once. (A request that was sent is waited for until the deadline:
// TestSlowAxiomAnsweredInTheRun.)
func TestAttemptTimeout(t *testing.T) {
	fake := fakeaxiom.NewTLS(testToken)
	defer fake.Close()
	endpoint := "https://" + stallFirst(t, strings.TrimPrefix(fake.URL, "https://")) + "/v2/annotations"
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(o *Options, cfg *axiomapi.Config) {
		*cfg = axiomapi.Config{
			Endpoint:       endpoint,
			Token:          testToken,
			Transport:      fake.Client().Transport,
			AttemptTimeout: 300 * time.Millisecond,
		}
		o.Retry = target.Retry{Retries: 2, Backoff: 10 * time.Millisecond}
	})
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := a.Deliver(ctxFor(t, 10*time.Second), true)
	if err != nil || res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("%+v, %v: want it delivered within the run", res, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("delivered after %s: the hung connection took more than its attempt", elapsed)
	}
	if n := len(fake.Requests()); n != 1 || len(fake.Annotations()) != 1 {
		t.Errorf("%d requests reached Axiom and %d annotations, want 1 and 1", n, len(fake.Annotations()))
	}
	if got := res.Delivered[0].Entry.Attempts; got != 2 {
		t.Errorf("attempts %d, want 2", got)
	}
}
