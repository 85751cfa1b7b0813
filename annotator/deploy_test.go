package annotator

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

const (
	systemA = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host-a"
	systemB = "/nix/store/abcdefghijklmnopqrstuv0123456789-nixos-system-host-b"
)

// newAnnotator is an annotator on dir that delivers to endpoint; change,
// when given, adjusts its options (the sender made from cfg when set).
func newAnnotator(t *testing.T, dir, endpoint string, change ...func(o *Options, cfg *SenderConfig)) *Annotator {
	t.Helper()
	log, _ := testLog(t)
	s, err := OpenStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Log: log, Settings: testSettings, SpoolLimit: 100}
	var cfg SenderConfig
	for _, c := range change {
		c(&o, &cfg)
	}
	if cfg.Endpoint == "" {
		o.Sender = newSender(t, endpoint, senderOpts{token: testToken}, log)
	} else if o.Sender, err = NewSender(cfg, log); err != nil {
		t.Fatal(err)
	}
	return New(s, o)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

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
	if n := len(spooled(t, a.store)); n != 1 {
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
	if err := delivering.store.LockDelivery(ctxFor(t, time.Second), false); err != nil {
		t.Fatal(err)
	}
	defer delivering.store.Close()

	a := newAnnotator(t, dir, fake.Endpoint())
	for i, sys := range []string{systemA, systemB} {
		rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(sys), deployTime.Add(time.Duration(i)*time.Minute), false)
		if err != nil || rec.Entry == nil {
			t.Fatalf("record %s while a delivery holds the lock: %+v, %v", sys, rec, err)
		}
	}
	if _, err := a.Deliver(ctxFor(t, time.Second), false); !errors.Is(err, ErrBusy) {
		t.Fatalf("deliver while another run delivers: %v, want ErrBusy", err)
	}
	delivering.store.Close()
	res, err := a.Deliver(ctxFor(t, 5*time.Second), false)
	if err != nil || len(res.Delivered) != 2 {
		t.Fatalf("%+v, %v: want both delivered", res, err)
	}
	got := fake.Annotations()
	if len(got) != 2 || !got[0].Time.Equal(deployTime) || !got[1].Time.Equal(deployTime.Add(time.Minute)) {
		t.Errorf("annotations %+v, want one at each deploy's time", got)
	}
}

// TestStateDirectoryLinksRefused: links inside the state directory are
// refused before anything is written or sent through them.
func TestStateDirectoryLinksRefused(t *testing.T) {
	for _, name := range []string{"lock", "spool.lock", "spool", "state.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(t.TempDir(), "outside")
			if name == "spool" {
				if err := os.Mkdir(outside, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(outside, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := OpenStore(dir, nil)
			if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("got %v, want ErrState naming the link", err)
			}
			if fi, err := os.Stat(outside); name != "spool" && err == nil {
				t.Errorf("a file was made through the link: %v", fi.Name())
			}
			if des, _ := os.ReadDir(outside); len(des) != 0 {
				t.Errorf("files were made through the link: %d", len(des))
			}
		})
	}
}

// TestUnusableStateBeforeSending: a state.json that cannot be replaced is
// found before anything is sent.
func TestUnusableStateBeforeSending(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "state.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStore(dir, nil)
	if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "state.json is not a regular file") {
		t.Fatalf("got %v, want ErrState about state.json", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
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
	if err != nil || !errors.Is(res.Err, ErrRejected) {
		t.Fatalf("%+v, %v: want it rejected", res, err)
	}
	pending, err := a.Pending()
	if err != nil || len(pending) != 1 || pending[0].Attempts != 1 || !strings.Contains(pending[0].LastError, "400") {
		t.Fatalf("pending %+v, %v: want the entry with 1 attempt and the 400", pending, err)
	}
	if _, err := a.Drop(t.Context(), pending[0].ID, "00000000000000000099-deadbeef"); err == nil {
		t.Fatal("dropping an unknown id: no error")
	}
	if n := len(spooled(t, a.store)); n != 1 {
		t.Fatalf("a failed drop removed entries: %d left", n)
	}
	dropped, err := a.Drop(t.Context(), pending[0].ID)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("drop: %v, %v", dropped, err)
	}
	if n := len(spooled(t, a.store)); n != 0 {
		t.Errorf("%d entries left after the drop", n)
	}

	rec, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime.Add(time.Minute), false)
	if err != nil || rec.Entry != nil || rec.Annotated == nil || rec.Annotated.NotAnnotated != NotAnnotatedDropped {
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
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(o *Options, _ *SenderConfig) { o.NoAnnotation = true })
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
	if err != nil || rec.Annotated == nil {
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
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(_ *Options, cfg *SenderConfig) {
		*cfg = SenderConfig{
			Endpoint:       endpoint,
			Token:          testToken,
			Transport:      fake.Client().Transport,
			Retries:        2,
			Backoff:        10 * time.Millisecond,
			AttemptTimeout: 300 * time.Millisecond,
		}
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
