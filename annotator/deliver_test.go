package annotator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

const testToken = "xaat-00000000-test-0000-0000-000000000000"

// deployTime is when the test deploys happened: the time each annotation
// must keep, however late it is delivered.
var deployTime = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func intp(n int) *int { return &n }

// testEntry is a spooled deploy as the command makes it.
func testEntry(at time.Time, system string) *Entry {
	return &Entry{
		StorePath:  "/nix/store/" + system,
		Generation: intp(42),
		Time:       at,
		Request: &annotation.Annotation{
			Datasets:    []string{"deployments", "infra"},
			Type:        "nix-deploy",
			Time:        at,
			EndTime:     at,
			Title:       "host gen 42 (" + system[:7] + ")",
			Description: "host generation 42.\nSystem: /nix/store/" + system + "\n",
		},
	}
}

// logBuffer is a slog destination that tests can read while runs write.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testLog is a logger whose output the test shows when it fails.
func testLog(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf)
		}
	})
	return newLog(buf), buf
}

type senderOpts struct {
	token          string
	transport      http.RoundTripper
	retries        int
	attemptTimeout time.Duration
	// settle is how long an unanswered POST keeps the entry from being
	// sent again; a test whose runs come once Axiom is done with the one
	// before sets it tiny.
	settle time.Duration
}

// newSender makes a sender with a transport of its own, so that no test
// shares a connection with another.
func newSender(t *testing.T, endpoint string, o senderOpts, log *slog.Logger) *Sender {
	t.Helper()
	if o.transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		o.transport = tr
	}
	s, err := NewSender(SenderConfig{
		Endpoint:       endpoint,
		Token:          o.token,
		Transport:      o.transport,
		Retries:        o.retries,
		Backoff:        20 * time.Millisecond,
		AttemptTimeout: o.attemptTimeout,
		Settle:         o.settle,
		Tracer:         otel.Tracer("test"),
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t *testing.T, dir string, log *slog.Logger) *Store {
	t.Helper()
	s, err := OpenStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testSettings = render.Settings{Datasets: []string{"deployments", "infra"}, Type: "nix-deploy"}

// testGeneration is a deployed system as discovery finds it.
func testGeneration(storePath string) *nixinfo.Generation {
	return &nixinfo.Generation{Number: intp(42), StorePath: storePath, Hostname: "host", Platform: nixinfo.NixOS, Label: "25.11"}
}

// flushWith delivers the spool as a run of the command does, waiting for
// the delivery lock.
func flushWith(ctx context.Context, store *Store, sender *Sender, log *slog.Logger) FlushResult {
	res, err := New(store, Options{Sender: sender, Log: log, Tracer: otel.Tracer("test")}).Deliver(ctx, true)
	if err != nil {
		res.Err = err
	}
	return res
}

// requests is what the fake saw, one "METHOD STATUS" each.
func requests(fake *fakeaxiom.Server) []string {
	var out []string
	for _, r := range fake.Requests() {
		out = append(out, fmt.Sprintf("%s %d", r.Method, r.Status))
	}
	return out
}

// storedOnce checks that Axiom holds the entry's annotation exactly once,
// at the deploy's time, and returns its id.
func storedOnce(t *testing.T, fake *fakeaxiom.Server, e *Entry) string {
	t.Helper()
	got := fake.Annotations()
	if len(got) != 1 {
		t.Fatalf("Axiom holds %d annotations, want exactly 1: %+v", len(got), got)
	}
	a := got[0]
	if !a.Time.Equal(e.Request.Time) || !a.EndTime.Equal(e.Request.Time) {
		t.Errorf("annotation time %s–%s, want the deploy's %s", a.Time, a.EndTime, e.Request.Time)
	}
	if a.Title != e.Request.Title || a.Type != e.Request.Type || !slices.Equal(a.Datasets, e.Request.Datasets) || a.Description != e.Request.Description {
		t.Errorf("annotation %+v, want %+v", a, e.Request)
	}
	return a.ID
}

func spooled(t *testing.T, s *Store) []*Entry {
	t.Helper()
	p, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedAddress is an address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// margin is what a run may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

// TestFlushFaults runs a deploy's delivery against each way Axiom (or the
// way to it) can fail: the run ends by its deadline, the annotation stays
// spooled with its time, and a second run with the fault gone leaves Axiom
// holding it exactly once.
func TestFlushFaults(t *testing.T) {
	retryAfter := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	for _, tc := range []struct {
		name string
		// endpoint is where the first run sends; empty means the fake.
		endpoint func(t *testing.T) string
		// tls serves the fake over https with a certificate only the
		// second run trusts.
		tls    bool
		faults []fakeaxiom.Fault
		// lazyFaults are made when the case runs, for times in them.
		lazyFaults func() []fakeaxiom.Fault
		deny       []string
		token      string // the first run's; "" is the right one, "-" none
		retries    int
		timeout    time.Duration

		// What the first run does.
		wantErr      error
		wantErrText  string
		wantDone     bool // delivered by the first run
		wantFirst    []string
		wantStored   int // what Axiom holds after the first run
		wantMaybe    bool
		wantAttempts int // 0: not checked
		minElapsed   time.Duration
		checkWaiting func(t *testing.T, reqs []fakeaxiom.Request)
		// What the second run sends.
		wantSecond []string
	}{
		{
			name:        "connection refused",
			endpoint:    func(t *testing.T) string { return "http://" + closedAddress(t) + "/v2/annotations" },
			retries:     2,
			wantErr:     ErrUnavailable,
			wantErrText: "refused",
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "DNS failure",
			endpoint:    func(*testing.T) string { return "http://axiom-deploy-annotation-test.invalid/v2/annotations" },
			retries:     2,
			wantErr:     ErrUnavailable,
			wantErrText: "axiom-deploy-annotation-test.invalid",
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "TLS certificate not trusted",
			tls:         true,
			retries:     2,
			wantErr:     ErrUnavailable,
			wantErrText: "certificate",
			wantSecond:  []string{"POST 201"},
		},
		{
			// A redirect is not followed, nor tried again within the run,
			// and says that Axiom did not take the request.
			name:        "307 to plain http",
			faults:      []fakeaxiom.Fault{{Status: 307, Header: http.Header{"Location": {"http://127.0.0.1:1/v2/annotations"}}, Method: http.MethodPost}},
			retries:     2,
			wantErr:     ErrUnavailable,
			wantErrText: "answered 307 with a redirect to http://127.0.0.1:1/v2/annotations: redirects are not followed",
			wantFirst:   []string{"POST 307"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "hang",
			faults:     []fakeaxiom.Fault{{Hang: true, Method: http.MethodPost}},
			retries:    2,
			timeout:    2 * time.Second,
			wantErr:    ErrUnavailable,
			minElapsed: 2 * time.Second,
			wantFirst:  []string{"POST 0"},
			wantMaybe:  true,
			wantSecond: []string{"GET 200", "POST 201"},
		},
		{
			name:       "hang after storing",
			faults:     []fakeaxiom.Fault{{Hang: true, Store: true, Method: http.MethodPost}},
			timeout:    2 * time.Second,
			wantErr:    ErrUnavailable,
			minElapsed: 2 * time.Second,
			wantFirst:  []string{"POST 0"},
			wantStored: 1,
			wantMaybe:  true,
			wantSecond: []string{"GET 200"},
		},
		{
			name:       "slow body",
			faults:     []fakeaxiom.Fault{{SlowBody: true, SlowEvery: 200 * time.Millisecond, Method: http.MethodPost}},
			retries:    2,
			timeout:    2 * time.Second,
			wantErr:    ErrUnavailable,
			minElapsed: 2 * time.Second,
			wantFirst:  []string{"POST 201"},
			wantStored: 1,
			wantMaybe:  true,
			wantSecond: []string{"GET 200"},
		},
		{
			name: "500 every time",
			faults: []fakeaxiom.Fault{
				{Status: 500, Method: http.MethodPost}, {Status: 500, Method: http.MethodPost}, {Status: 500, Method: http.MethodPost},
			},
			retries:    2,
			wantErr:    ErrUnavailable,
			wantFirst:  []string{"POST 500", "GET 200", "POST 500", "GET 200", "POST 500"},
			wantMaybe:  true,
			wantSecond: []string{"GET 200", "POST 201"},
		},
		{
			name:       "503 once, then retried",
			faults:     []fakeaxiom.Fault{{Status: 503, Method: http.MethodPost}},
			retries:    2,
			wantDone:   true,
			wantFirst:  []string{"POST 503", "GET 200", "POST 201"},
			wantStored: 1,
		},
		{
			name:       "502 after Axiom stored it",
			faults:     []fakeaxiom.Fault{{Status: 502, Store: true, Method: http.MethodPost}},
			wantErr:    ErrUnavailable,
			wantFirst:  []string{"POST 502"},
			wantStored: 1,
			wantMaybe:  true,
			wantSecond: []string{"GET 200"},
		},
		{
			name:       "502 after Axiom stored it, retried",
			faults:     []fakeaxiom.Fault{{Status: 502, Store: true, Method: http.MethodPost}},
			retries:    2,
			wantDone:   true,
			wantFirst:  []string{"POST 502", "GET 200"},
			wantStored: 1,
		},
		{
			name:       "answer lost after storing",
			faults:     []fakeaxiom.Fault{{StoreThenDrop: true}},
			wantErr:    ErrUnavailable,
			wantFirst:  []string{"POST 0"},
			wantStored: 1,
			wantMaybe:  true,
			wantSecond: []string{"GET 200"},
		},
		{
			name:       "answer lost after storing, retried",
			faults:     []fakeaxiom.Fault{{StoreThenDrop: true}},
			retries:    2,
			wantDone:   true,
			wantFirst:  []string{"POST 0", "GET 200"},
			wantStored: 1,
		},
		{
			name:       "429 with Retry-After within the deadline",
			faults:     []fakeaxiom.Fault{{Status: 429, Header: retryAfter("1"), Method: http.MethodPost}},
			timeout:    5 * time.Second,
			wantDone:   true,
			wantFirst:  []string{"POST 429", "POST 201"},
			wantStored: 1,
			minElapsed: time.Second,
			checkWaiting: func(t *testing.T, reqs []fakeaxiom.Request) {
				if gap := reqs[1].Time.Sub(reqs[0].Time); gap < time.Second {
					t.Errorf("sent again %s after the 429, want at least the 1s Retry-After asked", gap)
				}
			},
		},
		{
			name: "429 with the rate limit's reset within the deadline",
			lazyFaults: func() []fakeaxiom.Fault {
				return []fakeaxiom.Fault{{Status: 429, Method: http.MethodPost, Header: http.Header{
					"X-Ratelimit-Scope":     {"organization"},
					"X-Ratelimit-Limit":     {"10"},
					"X-Ratelimit-Remaining": {"0"},
					"X-Ratelimit-Reset":     {fmt.Sprint(time.Now().Add(2 * time.Second).Unix())},
				}}}
			},
			timeout:    6 * time.Second,
			wantDone:   true,
			wantFirst:  []string{"POST 429", "POST 201"},
			wantStored: 1,
		},
		{
			name:        "429 with Retry-After past the deadline",
			faults:      []fakeaxiom.Fault{{Status: 429, Header: retryAfter("60"), Method: http.MethodPost}},
			timeout:     3 * time.Second,
			wantErr:     ErrRateLimited,
			wantErrText: "wait 1m0s",
			wantFirst:   []string{"POST 429"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "429 without Retry-After",
			faults:     []fakeaxiom.Fault{{Status: 429, Method: http.MethodPost}},
			retries:    2,
			wantErr:    ErrRateLimited,
			wantFirst:  []string{"POST 429"},
			wantSecond: []string{"POST 201"},
		},
		{
			name:        "401 token refused",
			token:       "xaat-ffffffff-wrong-ffff-ffff-ffffffffffff",
			retries:     2,
			wantErr:     ErrUnauthorized,
			wantErrText: "annotations create permission",
			wantFirst:   []string{"POST 401"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "403 token without the create permission",
			deny:        []string{"create"},
			retries:     2,
			wantErr:     ErrUnauthorized,
			wantErrText: "annotations create permission",
			wantFirst:   []string{"POST 403"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "400",
			faults:     []fakeaxiom.Fault{{Status: 400, Method: http.MethodPost}},
			retries:    2,
			wantErr:    ErrRejected,
			wantFirst:  []string{"POST 400"},
			wantSecond: []string{"POST 201"},
		},
		{
			name:       "no token",
			token:      "-",
			retries:    2,
			wantErr:    ErrNoToken,
			wantSecond: []string{"POST 201"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := testLog(t)
			var fake *fakeaxiom.Server
			if tc.tls {
				fake = fakeaxiom.NewTLS(testToken)
			} else {
				fake = fakeaxiom.New(testToken)
			}
			defer fake.Close()
			fake.Fail(tc.faults...)
			if tc.lazyFaults != nil {
				fake.Fail(tc.lazyFaults()...)
			}
			fake.Deny(tc.deny...)

			store := openStore(t, t.TempDir(), log)
			e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
			if err := store.Add(t.Context(), e, 100); err != nil {
				t.Fatal(err)
			}

			endpoint := fake.Endpoint()
			if tc.endpoint != nil {
				endpoint = tc.endpoint(t)
			}
			token := testToken
			switch tc.token {
			case "-":
				token = ""
			case "":
			default:
				token = tc.token
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 3 * time.Second
			}

			// The first run.
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			start := time.Now()
			res := flushWith(ctx, store, newSender(t, endpoint, senderOpts{token: token, retries: tc.retries}, log), log)
			elapsed := time.Since(start)
			cancel()
			if elapsed > timeout+margin {
				t.Errorf("the run took %s, past its %s deadline", elapsed, timeout)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("the run took %s, want at least %s", elapsed, tc.minElapsed)
			}
			if tc.wantDone {
				if res.Err != nil || len(res.Delivered) != 1 || res.Pending != 0 {
					t.Fatalf("first run: %+v, want the annotation delivered", res)
				}
			} else {
				if !errors.Is(res.Err, tc.wantErr) {
					t.Fatalf("first run: error %v, want %v", res.Err, tc.wantErr)
				}
				if !strings.Contains(res.Err.Error(), tc.wantErrText) {
					t.Errorf("error %q does not say %q", res.Err, tc.wantErrText)
				}
				if len(res.Delivered) != 0 || res.Pending != 1 {
					t.Errorf("first run: %d delivered, %d pending; want 0 and 1", len(res.Delivered), res.Pending)
				}
			}
			if got := requests(fake); !slices.Equal(got, tc.wantFirst) {
				t.Errorf("first run sent %q, want %q", got, tc.wantFirst)
			}
			if tc.checkWaiting != nil {
				tc.checkWaiting(t, fake.Requests())
			}
			if got := len(fake.Annotations()); got != tc.wantStored {
				t.Errorf("after the first run Axiom holds %d annotations, want %d", got, tc.wantStored)
			}

			left := spooled(t, store)
			if tc.wantDone {
				if len(left) != 0 {
					t.Fatalf("spool holds %d entries after delivery", len(left))
				}
				id := storedOnce(t, fake, e)
				if last := store.LastAnnotated(); last == nil || last.AnnotationID != id || !last.Time.Equal(deployTime) {
					t.Errorf("state %+v, want the annotation %s at %s", last, id, deployTime)
				}
				return
			}
			if len(left) != 1 {
				t.Fatalf("spool holds %d entries, want the one undelivered", len(left))
			}
			if got := left[0]; !got.Request.Time.Equal(deployTime) || got.MaybeSent != tc.wantMaybe || got.LastError == "" {
				t.Errorf("spooled %+v: want time %s, maybeSent %v and the error", got, deployTime, tc.wantMaybe)
			}
			if got := left[0].Attempts; tc.wantAttempts != 0 && got != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tc.wantAttempts)
			}

			// The second run, the fault gone, once Axiom is done with what
			// the first sent.
			fake.Deny()
			before := len(fake.Requests())
			o := senderOpts{token: testToken, settle: time.Nanosecond}
			if tc.tls {
				o.transport = fake.Client().Transport
			}
			ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res = flushWith(ctx, store, newSender(t, fake.Endpoint(), o, log), log)
			if res.Err != nil || len(res.Delivered) != 1 || res.Pending != 0 {
				t.Fatalf("second run: %+v, want the annotation delivered", res)
			}
			if got := requests(fake)[before:]; !slices.Equal(got, tc.wantSecond) {
				t.Errorf("second run sent %q, want %q", got, tc.wantSecond)
			}
			id := storedOnce(t, fake, e)
			if res.Delivered[0].ID != id {
				t.Errorf("delivered as %s, Axiom holds %s", res.Delivered[0].ID, id)
			}
			if left := spooled(t, store); len(left) != 0 {
				t.Errorf("spool holds %d entries after delivery", len(left))
			}
			if last := store.LastAnnotated(); last == nil || last.AnnotationID != id || !last.Time.Equal(deployTime) {
				t.Errorf("state %+v, want the annotation %s at %s", last, id, deployTime)
			}
		})
	}
}

// TestDeliverHangEndsAtDeadline calls Deliver itself against a hanging
// Axiom: it returns by the deadline.
func TestDeliverHangEndsAtDeadline(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	fake.Fail(fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true}, fakeaxiom.Fault{Hang: true})
	log, _ := testLog(t)
	s := newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 5}, log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")

	const deadline = 800 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := s.deliver(ctx, e)
	if elapsed := time.Since(start); elapsed > deadline+margin {
		t.Errorf("Deliver took %s, past its %s deadline", elapsed, deadline)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %v, want ErrUnavailable", err)
	}
	if !e.MaybeSent || e.Attempts != 1 {
		t.Errorf("entry %+v: want one attempt that may have been stored", e)
	}
	if n := len(fake.Annotations()); n != 0 {
		t.Errorf("Axiom holds %d annotations, want none", n)
	}
}

// TestDeliverLookupNeedsReadPermission: an annotation whose answer was lost
// is not sent again while the token cannot look it up, and the error says
// which permission is missing; with it, the lookup finds it.
func TestDeliverLookupNeedsReadPermission(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	flush := func() FlushResult {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	}

	fake.Fail(fakeaxiom.Fault{StoreThenDrop: true})
	if res := flush(); !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("first run: %v, want ErrUnavailable", res.Err)
	}

	fake.Deny("read")
	res := flush()
	if !errors.Is(res.Err, ErrUnauthorized) || !strings.Contains(res.Err.Error(), "annotations read permission") {
		t.Fatalf("second run: %v, want ErrUnauthorized naming the read permission", res.Err)
	}
	if got, want := requests(fake), []string{"POST 0", "GET 403"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q: nothing sent again without a lookup", got, want)
	}
	if left := spooled(t, store); len(left) != 1 || !left[0].MaybeSent {
		t.Fatalf("spool %+v, want the entry kept, still maybe sent", left)
	}

	fake.Deny()
	if res := flush(); res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("third run: %+v, want delivered", res)
	}
	storedOnce(t, fake, e)
}

// TestDeliverLookupMatches: the lookup counts only an annotation with the
// same type, datasets, title and time as delivered.
func TestDeliverLookupMatches(t *testing.T) {
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
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
			log, _ := testLog(t)
			s := newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()

			// Axiom already holds a similar annotation.
			other := *e.Request
			other.Datasets = slices.Clone(other.Datasets)
			tc.other(&other)
			if _, err := s.client.Annotations.Create(ctx, createRequest(&other)); err != nil {
				t.Fatal(err)
			}
			mine := *e
			mine.MaybeSent = true
			if _, err := s.deliver(ctx, &mine); err != nil {
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

// TestFlushRejectedStaysOthersGo: an annotation Axiom refuses as invalid
// stays spooled, and the deploys after it are still delivered.
func TestFlushRejectedStaysOthersGo(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	bad := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-bad")
	bad.Request.Title = strings.Repeat("x", render.MaxTitle+1)
	good := testEntry(deployTime.Add(time.Hour), "abcdefghijklmnopqrstuv0123456789-nixos-system-good")
	for _, e := range []*Entry{bad, good} {
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2}, log), log)
	if !errors.Is(res.Err, ErrRejected) || len(res.Delivered) != 1 || res.Pending != 1 {
		t.Fatalf("%+v: want the bad one rejected and kept, the good one delivered", res)
	}
	if got, want := requests(fake), []string{"POST 400", "POST 201"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	storedOnce(t, fake, good)
	if left := spooled(t, store); len(left) != 1 || left[0].StorePath != bad.StorePath || left[0].MaybeSent {
		t.Errorf("spool %+v, want the rejected entry, not maybe sent", left)
	}
	// The newer deploy, annotated, is the last one, not the stuck older one.
	if got := latest(t, store); got.StorePath != good.StorePath {
		t.Errorf("last deployed %s, want %s", got.StorePath, good.StorePath)
	}
}

// TestFlushHostileAnswer: whatever Axiom (or something in its place) answers
// goes into errors, the journal and the spool bounded and on one line, the
// spool entry stays readable, and the status still counts when the body
// cannot be read.
func TestFlushHostileAnswer(t *testing.T) {
	huge, err := json.Marshal(map[string]string{"message": strings.Repeat("\x1b[2J\r\nbogus\x00\u202e", 20_000)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"huge message with control characters", huge},
		{"broken JSON", []byte(`{"message":"\x1b`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeaxiom.New(testToken)
			defer fake.Close()
			fake.Fail(fakeaxiom.Fault{Status: 400, Body: tc.body})
			log, logs := testLog(t)
			store := openStore(t, t.TempDir(), log)
			e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
			if err := store.Add(t.Context(), e, 100); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2}, log), log)
			if !errors.Is(res.Err, ErrRejected) {
				t.Fatalf("error %v, want ErrRejected", res.Err)
			}
			text := res.Err.Error()
			if len(text) > 2*maxErrText || strings.ContainsAny(text, "\x1b\r\n\x00") {
				t.Errorf("error text is %d bytes or holds control characters: %q", len(text), text[:min(len(text), 200)])
			}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if len(line) > 4*maxErrText {
					t.Errorf("log line of %d bytes", len(line))
				}
			}
			left := spooled(t, store)
			if len(left) != 1 || len(left[0].LastError) > maxErrText || left[0].MaybeSent {
				t.Fatalf("spool %+v, want the entry with a bounded error, not maybe sent", left)
			}
			if got, want := requests(fake), []string{"POST 400"}; !slices.Equal(got, want) {
				t.Errorf("sent %q, want %q", got, want)
			}
			if n := len(fake.Annotations()); n != 0 {
				t.Errorf("Axiom holds %d annotations, want none", n)
			}
		})
	}
}

// onPost runs a check while a POST is out, as a run that is killed then
// would leave things.
type onPost struct {
	base  http.RoundTripper
	check func()
}

func (o onPost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		o.check()
	}
	return o.base.RoundTrip(r)
}

// TestFlushRecordsBeforeSending: while a POST is out, the spool on disk
// already says it may reach Axiom, so that a run killed then does not lead
// the next one to send it again without a lookup.
func TestFlushRecordsBeforeSending(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	dir := t.TempDir()
	store := openStore(t, dir, log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	checked := false
	tr := onPost{base: http.DefaultTransport, check: func() {
		checked = true
		b, err := os.ReadFile(filepath.Join(dir, "spool", e.ID+".json"))
		if err != nil {
			t.Errorf("spool entry while sending: %v", err)
			return
		}
		got, err := parseEntry(b)
		if err != nil || !got.MaybeSent {
			t.Errorf("spool entry while sending: %+v, %v; want it marked maybe sent", got, err)
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, transport: tr}, log), log)
	if !checked || res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("%+v (checked %v): want delivered", res, checked)
	}
	storedOnce(t, fake, e)
	if got, want := requests(fake), []string{"POST 201"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
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

// testSpans installs, once for the test process, a tracer provider that
// keeps every span in memory. Once: tracers taken before a provider is set
// follow the first one set, and no other.
var testSpans = sync.OnceValue(func() *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	return exp
})

// TestTokenNeverLeaks runs failing and succeeding deliveries with a token
// that is easy to spot, and looks for it in everything a run leaves: the
// log at debug level, every error, every span (the SDK's and otelhttp's
// too), the state directory's files.
func TestTokenNeverLeaks(t *testing.T) {
	const secret = "5ecre7-d0-n0t-1eak-7f3c2b9e41d8"
	const token = "xaat-" + secret

	spans := testSpans()
	spans.Reset()

	fake := fakeaxiom.New(token)
	defer fake.Close()
	logs := &logBuffer{}
	log := newLog(logs)
	dir := t.TempDir()
	store := openStore(t, dir, log)
	var seen []string // every error and result, as text
	flush := func() {
		// Each run comes once Axiom is done with what the one before sent.
		s := newSender(t, fake.Endpoint(), senderOpts{token: token, retries: 1, settle: time.Nanosecond, transport: otelhttp.NewTransport(http.DefaultTransport)}, log)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res := flushWith(ctx, store, s, log)
		seen = append(seen, fmt.Sprintf("%+v", res))
		if res.Err != nil {
			seen = append(seen, res.Err.Error())
		}
		for _, d := range res.Delivered {
			seen = append(seen, fmt.Sprintf("%+v", *d.Entry))
		}
	}
	post := func(f fakeaxiom.Fault) fakeaxiom.Fault { f.Method = http.MethodPost; return f }
	for i, step := range []struct {
		enqueue bool
		faults  []fakeaxiom.Fault
		deny    []string
	}{
		{enqueue: true, faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{Status: 500}), post(fakeaxiom.Fault{Status: 502})}},
		{faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{StoreThenDrop: true})}}, // found by the lookup
		{enqueue: true, faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{Hang: true})}},
		{faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{Status: 429, Header: http.Header{"Retry-After": {"120"}}})}},
		{faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{Status: 401})}},
		{deny: []string{"create"}},
		{faults: []fakeaxiom.Fault{post(fakeaxiom.Fault{Status: 400})}},
		{enqueue: true}, // all delivered
	} {
		if step.enqueue {
			e := testEntry(deployTime.Add(time.Duration(i)*time.Minute), fmt.Sprintf("%032d-nixos-system-host", i))
			if err := store.Add(t.Context(), e, 100); err != nil {
				t.Fatal(err)
			}
		}
		fake.Fail(step.faults...)
		fake.Deny(step.deny...)
		flush()
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left in the spool", len(left))
	}
	if n := len(fake.Annotations()); n != 3 {
		t.Errorf("Axiom holds %d annotations, want 3", n)
	}

	// Used, so a leak would have had its chance.
	used := 0
	for _, r := range fake.Requests() {
		if r.Authorization == "Bearer "+token {
			used++
		}
	}
	if used < 10 || len(fake.Annotations()) == 0 {
		t.Fatalf("the token was sent %d times and %d annotations stored: the check proves nothing", used, len(fake.Annotations()))
	}

	var all strings.Builder
	all.WriteString(logs.String())
	for _, s := range seen {
		all.WriteString(s + "\n")
	}
	got := spans.GetSpans()
	names := map[string]bool{}
	for _, s := range got {
		names[s.Name] = true
		fmt.Fprintf(&all, "%s %+v %+v\n", s.Name, s.Status, s)
		for _, kv := range append(slices.Clone(s.Attributes), s.Resource.Attributes()...) {
			fmt.Fprintf(&all, "%s=%s\n", kv.Key, kv.Value.String())
		}
		for _, ev := range s.Events {
			fmt.Fprintf(&all, "%s\n", ev.Name)
			for _, kv := range ev.Attributes {
				fmt.Fprintf(&all, "%s=%s\n", kv.Key, kv.Value.String())
			}
		}
	}
	for _, want := range []string{"deliver", "lookup", "Annotations.Create"} {
		if !names[want] {
			t.Errorf("no %q span among %v: the check misses what it should look at", want, names)
		}
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		fmt.Fprintf(&all, "%s\n%s\n", path, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	text := all.String()
	if !strings.Contains(text, "annotations create permission") || !strings.Contains(text, "rate limited") {
		t.Fatalf("the failures did not show up in what was captured:\n%s", text)
	}
	for _, leak := range []string{token, secret} {
		if i := strings.Index(text, leak); i >= 0 {
			t.Errorf("the token appears in the output: …%s…", text[max(0, i-200):min(len(text), i+len(leak)+50)])
		}
	}
}

// TestHostileStrings: titles, descriptions and dataset names with quotes,
// control and bidirectional characters and markup go through the spool and
// the lookup unchanged, so an annotation whose answer was lost is still
// found, and stored once.
func TestHostileStrings(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	e.Request.Title = "\"host\" \u202egen 1\u202c <script>alert(1)</script> \\ %s %!v"
	e.Request.Description = "line\nline\r\n\ttab \x1b[31mred\x1b[0m \u2028 {\"json\":true} ../../etc/passwd"
	e.Request.Datasets = []string{"déploiements", "a\"b", "../spool"}
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	flush := func() FlushResult {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	}
	fake.Fail(fakeaxiom.Fault{StoreThenDrop: true})
	if res := flush(); !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("first run: %v", res.Err)
	}
	if res := flush(); res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("second run: %+v", res)
	}
	if got, want := requests(fake), []string{"POST 0", "GET 200"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	storedOnce(t, fake, e)
	if last := store.LastAnnotated(); last == nil || last.Title != e.Request.Title {
		t.Errorf("state %+v, want the title kept as it was", last)
	}
}

// A lookup that finds the list API unavailable is tried again within the
// deadline, like a create: the entry is then sent once.
func TestDeliverRetriesUnavailableLookup(t *testing.T) {
	log, _ := testLog(t)
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	fake.Fail(fakeaxiom.Fault{Status: http.StatusServiceUnavailable, Method: http.MethodGet})
	s := newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2}, log)
	e := testEntry(deployTime, "0123456789abcdef-host")
	e.MaybeSent = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := s.deliver(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(requests(fake), ","), "GET 503,GET 200,POST 201"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
	if stored := storedOnce(t, fake, e); stored != id {
		t.Errorf("stored %s, Deliver returned %s", stored, id)
	}
}
