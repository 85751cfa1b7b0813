package annotator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// stubTarget is a second target beside Axiom's: all it takes is Create and
// Lookup. It keeps what it is sent; fail, when set, fails the next Create
// after keeping the annotation, as a target whose answer was lost would.
type stubTarget struct {
	mu      sync.Mutex
	kept    []annotation.Annotation
	lookups int
	fail    error
}

var _ target.Target = (*stubTarget)(nil)

func (s *stubTarget) Create(_ context.Context, a *annotation.Annotation) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = append(s.kept, *a)
	if err := s.fail; err != nil {
		s.fail = nil
		return "", err
	}
	return fmt.Sprintf("stub-%d", len(s.kept)), nil
}

func (s *stubTarget) Lookup(_ context.Context, a *annotation.Annotation) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	for i, k := range s.kept {
		if a.Same(&k) {
			return fmt.Sprintf("stub-%d", i+1), nil
		}
	}
	return "", nil
}

// TestStubTarget delivers through a target that is not Axiom's, behind the
// interface alone: a deploy recorded is delivered to it once, with the
// deploy's time, and the state records the id it gave; a request whose
// answer was lost is looked up in it before being sent again, and found.
func TestStubTarget(t *testing.T) {
	log, _ := testlog.New(t)
	stub := &stubTarget{}
	a := New(openOutbox(t, t.TempDir(), log), Options{
		Settings: testSettings, SpoolLimit: 100, Log: log, Target: stub,
		Retry: target.Retry{Backoff: time.Millisecond, Settle: time.Nanosecond},
		Diff:  func(context.Context, string, string) (*nixinfo.Diff, error) { return &nixinfo.Diff{}, nil },
	})
	deliver := func() DeliveryRun {
		t.Helper()
		res, err := a.Deliver(ctxFor(t, 5*time.Second), true)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemA), deployTime, false); err != nil {
		t.Fatal(err)
	}
	res := deliver()
	if res.Err != nil || len(res.Delivered) != 1 || res.Delivered[0].ID != "stub-1" {
		t.Fatalf("%+v: want the deploy delivered to the stub as stub-1", res)
	}
	if len(stub.kept) != 1 || stub.kept[0].Title != "host gen 42" || !stub.kept[0].Time.Equal(deployTime) ||
		!slices.Equal(stub.kept[0].Datasets, testSettings.Datasets) || stub.kept[0].Type != testSettings.Type {
		t.Errorf("the stub holds %+v, want the deploy's annotation", stub.kept)
	}
	if last, _ := a.outbox.Last(); last == nil || last.AnnotationID != "stub-1" || last.StorePath != systemA {
		t.Errorf("state %+v, want the stub's id", last)
	}

	// The next deploy's answer is lost: the stub keeps it, the run does
	// not know. The next run looks it up instead of sending it again.
	stub.fail = &target.Failure{Err: fmt.Errorf("%w: answer lost", target.ErrUnavailable), Reached: true, Unanswered: true}
	if _, err := a.Record(ctxFor(t, 5*time.Second), testGeneration(systemB), deployTime.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if res := deliver(); !errors.Is(res.Err, target.ErrUnavailable) || res.Pending != 1 {
		t.Fatalf("%+v: want it spooled, unavailable", res)
	}
	if left := spooled(t, a.outbox); len(left) != 1 || !left[0].MaybeSent || left[0].Attempts != 1 {
		t.Fatalf("spool %+v, want the entry maybe sent", left)
	}
	if res := deliver(); res.Err != nil || len(res.Delivered) != 1 || res.Delivered[0].ID != "stub-2" {
		t.Fatalf("%+v: want it found as stub-2", res)
	}
	if len(stub.kept) != 2 || stub.lookups != 1 {
		t.Errorf("the stub holds %d annotations after %d lookups, want 2 after 1", len(stub.kept), stub.lookups)
	}
}

// TestVersion1Delivered delivers a state directory that the command wrote
// before spool entries had a format of their own (outbox/testdata/v1): each
// deploy spooled then reaches Axiom once, in its order, with the
// annotation it kept; the ones not rendered yet are rendered now; the one
// recorded with annotations off is settled without one; the one whose POST
// went unanswered is looked up before it is sent.
func TestVersion1Delivered(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("outbox", "testdata", "v1"))); err != nil {
		t.Fatal(err)
	}
	log, _ := testlog.New(t)
	ob := openOutbox(t, dir, log)
	before := spooled(t, ob)
	opts := Options{Settings: testSettings, SpoolLimit: 100, Log: log,
		Diff: func(context.Context, string, string) (*nixinfo.Diff, error) { return &nixinfo.Diff{}, nil }}
	newSender(t, fake.Endpoint(), senderOpts{token: testToken, settle: time.Nanosecond}, log).apply(&opts)
	res, err := New(ob, opts).Deliver(ctxFor(t, 10*time.Second), true)
	if err != nil || res.Err != nil || len(res.Delivered) != 5 || res.Pending != 0 {
		t.Fatalf("%+v, %v: want all five delivered", res, err)
	}
	got := fake.Annotations()
	var titles []string
	for _, a := range got {
		titles = append(titles, a.Title)
	}
	want := []string{"web-1 gen 42 (0123456)", "web-1 gen 43 (0123456-dirty)", "rollout 0123456-dirty: colmena apply failed (exit 1)", "web-1 test"}
	if !slices.Equal(titles, want) {
		t.Errorf("Axiom holds %q, want %q", titles, want)
	}
	for i, e := range before[:3] {
		if a := got[i]; a.Description != e.Annotation.Description || a.URL != e.Annotation.URL || !a.Time.Equal(e.Annotation.Time) || !a.EndTime.Equal(e.Annotation.EndTime) {
			t.Errorf("annotation %d is %+v, want the one spooled, %+v", i, a, e.Annotation)
		}
	}
	if got := requests(fake); !slices.Equal(got, []string{"POST 201", "GET 200", "POST 201", "POST 201", "POST 201"}) {
		t.Errorf("requests %q: want the unanswered one looked up first", got)
	}
	last, err := ob.Last()
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || last.Seq != 6 || last.NotAnnotated != outbox.NotAnnotatedOff || last.Title != "web-1 rollback to gen 40 (0123456)" {
		t.Errorf("state %+v, want the deploy recorded with annotations off, settled last", last)
	}
}
