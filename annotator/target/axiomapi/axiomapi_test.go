package axiomapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
)

const testToken = "xaat-00000000-test-0000-0000-000000000000"

var deployTime = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// margin is what a run may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

// testAnnotation is a deploy's annotation as the command renders it.
func testAnnotation() *annotation.Annotation {
	return &annotation.Annotation{
		Datasets: []string{"deployments", "infra"}, Type: "nix-deploy", Time: deployTime, EndTime: deployTime,
		Title: "host gen 42 (0123456)", Description: "host generation 42.",
	}
}

// newTarget is the Axiom target at endpoint, over a transport of its own.
func newTarget(t *testing.T, endpoint string, attempt time.Duration) *Target {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	tg, err := New(Config{Endpoint: endpoint, Token: testToken, Transport: tr, AttemptTimeout: attempt})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func newSender(t *testing.T, tg target.Target, r target.Retry, log *slog.Logger) *target.Sender {
	return target.NewSender(tg, r, nil, log)
}

// requests is what the fake saw, one "METHOD STATUS" each.
func requests(fake *fakeaxiom.Server) []string {
	var out []string
	for _, r := range fake.Requests() {
		out = append(out, fmt.Sprintf("%s %d", r.Method, r.Status))
	}
	return out
}

// TestSendHangEndsAtDeadline sends through the Axiom target against a
// hanging Axiom: it returns by the deadline.
func TestSendHangEndsAtDeadline(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	fake.Fail(fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true})
	log, _ := testlog.New(t)
	s := newSender(t, newTarget(t, fake.Endpoint(), 0), target.Retry{Retries: 5, Backoff: 20 * time.Millisecond}, log)
	a := testAnnotation()
	var tries target.Tries

	const deadline = 800 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := s.Send(ctx, a, &tries)
	if elapsed := time.Since(start); elapsed > deadline+margin {
		t.Errorf("Send took %s, past its %s deadline", elapsed, deadline)
	}
	if !errors.Is(err, target.ErrUnavailable) {
		t.Errorf("error %v, want ErrUnavailable", err)
	}
	if !tries.MaybeSent || tries.Attempts != 1 {
		t.Errorf("tries %+v: want one attempt that may have been stored", tries)
	}
	if n := len(fake.Annotations()); n != 0 {
		t.Errorf("Axiom holds %d annotations, want none", n)
	}
}

// TestLookupMatches: the lookup counts only an annotation with the
// same type, datasets, title and time as delivered.
func TestLookupMatches(t *testing.T) {
	mine := testAnnotation()
	for _, tc := range []struct {
		name  string
		other func(r *annotation.Annotation)
		found bool
	}{
		{"same", func(*annotation.Annotation) {}, true},
		{"datasets in another order", func(r *annotation.Annotation) { r.Datasets = []string{"infra", "deployments"} }, true},
		{"other title", func(r *annotation.Annotation) { r.Title += " again" }, false},
		{"other type", func(r *annotation.Annotation) { r.Type = "deploy" }, false},
		{"other datasets", func(r *annotation.Annotation) { r.Datasets = []string{"deployments"} }, false},
		{"other time", func(r *annotation.Annotation) {
			r.Time = r.Time.Add(30 * time.Second)
			r.EndTime = r.Time
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeaxiom.New(testToken)
			defer fake.Close()
			log, _ := testlog.New(t)
			tg := newTarget(t, fake.Endpoint(), 0)
			s := newSender(t, tg, target.Retry{}, log)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()

			// Axiom already holds a similar annotation.
			other := *mine
			other.Datasets = slices.Clone(other.Datasets)
			tc.other(&other)
			if _, err := tg.client.Annotations.Create(ctx, createRequest(&other)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(ctx, mine, &target.Tries{MaybeSent: true}); err != nil {
				t.Fatal(err)
			}
			want := 2
			if tc.found {
				want = 1
			}
			if n := len(fake.Annotations()); n != want {
				t.Errorf("Axiom holds %d annotations, want %d", n, want)
			}
		})
	}
}

// A lookup that finds the list API unavailable is tried again within the
// deadline, like a create: the entry is then sent once.
func TestSendRetriesUnavailableLookup(t *testing.T) {
	log, _ := testlog.New(t)
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	fake.Fail(fakeaxiom.Fault{Status: http.StatusServiceUnavailable, Method: http.MethodGet})
	s := newSender(t, newTarget(t, fake.Endpoint(), 0), target.Retry{Retries: 2, Backoff: 20 * time.Millisecond}, log)
	a := testAnnotation()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := s.Send(ctx, a, &target.Tries{MaybeSent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(requests(fake), ","), "GET 503,GET 200,POST 201"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
	if got := fake.Annotations(); len(got) != 1 || got[0].ID != id {
		t.Errorf("Axiom holds %+v, Send returned %s: want it once", got, id)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 3 ", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		// Beyond any deadline, and never wrapped around.
		{"99999999999", 24 * time.Hour},
		{"9223372036854775807", 24 * time.Hour},
		{"99999999999999999999999", 24 * time.Hour},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour},
	} {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
}
