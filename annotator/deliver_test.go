package annotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target/axiomapi"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

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
			wantErr:     target.ErrUnavailable,
			wantErrText: "refused",
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "DNS failure",
			endpoint:    func(*testing.T) string { return "http://axiom-deploy-annotation-test.invalid/v2/annotations" },
			retries:     2,
			wantErr:     target.ErrUnavailable,
			wantErrText: "axiom-deploy-annotation-test.invalid",
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "TLS certificate not trusted",
			tls:         true,
			retries:     2,
			wantErr:     target.ErrUnavailable,
			wantErrText: "certificate",
			wantSecond:  []string{"POST 201"},
		},
		{
			// A redirect is not followed, nor tried again within the run,
			// and says that Axiom did not take the request.
			name:        "307 to plain http",
			faults:      []fakeaxiom.Fault{{Status: 307, Header: http.Header{"Location": {"http://127.0.0.1:1/v2/annotations"}}, Method: http.MethodPost}},
			retries:     2,
			wantErr:     target.ErrUnavailable,
			wantErrText: "answered 307 with a redirect to http://127.0.0.1:1/v2/annotations: redirects are not followed",
			wantFirst:   []string{"POST 307"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "hang",
			faults:     []fakeaxiom.Fault{{Hang: true, Method: http.MethodPost}},
			retries:    2,
			timeout:    2 * time.Second,
			wantErr:    target.ErrUnavailable,
			minElapsed: 2 * time.Second,
			wantFirst:  []string{"POST 0"},
			wantMaybe:  true,
			wantSecond: []string{"GET 200", "POST 201"},
		},
		{
			name:       "hang after storing",
			faults:     []fakeaxiom.Fault{{Hang: true, Store: true, Method: http.MethodPost}},
			timeout:    2 * time.Second,
			wantErr:    target.ErrUnavailable,
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
			wantErr:    target.ErrUnavailable,
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
			wantErr:    target.ErrUnavailable,
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
			wantErr:    target.ErrUnavailable,
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
			wantErr:    target.ErrUnavailable,
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
			wantErr:     target.ErrRateLimited,
			wantErrText: "wait 1m0s",
			wantFirst:   []string{"POST 429"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "429 without Retry-After",
			faults:     []fakeaxiom.Fault{{Status: 429, Method: http.MethodPost}},
			retries:    2,
			wantErr:    target.ErrRateLimited,
			wantFirst:  []string{"POST 429"},
			wantSecond: []string{"POST 201"},
		},
		{
			name:        "401 token refused",
			token:       "xaat-ffffffff-wrong-ffff-ffff-ffffffffffff",
			retries:     2,
			wantErr:     target.ErrUnauthorized,
			wantErrText: "annotations create permission",
			wantFirst:   []string{"POST 401"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:        "403 token without the create permission",
			deny:        []string{"create"},
			retries:     2,
			wantErr:     target.ErrUnauthorized,
			wantErrText: "annotations create permission",
			wantFirst:   []string{"POST 403"},
			wantSecond:  []string{"POST 201"},
		},
		{
			name:       "400",
			faults:     []fakeaxiom.Fault{{Status: 400, Method: http.MethodPost}},
			retries:    2,
			wantErr:    target.ErrRejected,
			wantFirst:  []string{"POST 400"},
			wantSecond: []string{"POST 201"},
		},
		{
			name:       "no token",
			token:      "-",
			retries:    2,
			wantErr:    axiomclient.ErrNoToken,
			wantSecond: []string{"POST 201"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := testlog.New(t)
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

			store := openOutbox(t, t.TempDir(), log)
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
				if last, _ := store.Last(); last == nil || last.AnnotationID != id || !last.Time.Equal(deployTime) {
					t.Errorf("state %+v, want the annotation %s at %s", last, id, deployTime)
				}
				return
			}
			if len(left) != 1 {
				t.Fatalf("spool holds %d entries, want the one undelivered", len(left))
			}
			if got := left[0]; !got.Annotation.Time.Equal(deployTime) || got.MaybeSent != tc.wantMaybe || got.LastError == "" {
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
			if last, _ := store.Last(); last == nil || last.AnnotationID != id || !last.Time.Equal(deployTime) {
				t.Errorf("state %+v, want the annotation %s at %s", last, id, deployTime)
			}
		})
	}
}

// TestDeliverLookupNeedsReadPermission: an annotation whose answer was lost
// is not sent again while the token cannot look it up, and the error says
// which permission is missing; with it, the lookup finds it.
func TestDeliverLookupNeedsReadPermission(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	flush := func() DeliveryRun {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	}

	fake.Fail(fakeaxiom.Fault{StoreThenDrop: true})
	if res := flush(); !errors.Is(res.Err, target.ErrUnavailable) {
		t.Fatalf("first run: %v, want target.ErrUnavailable", res.Err)
	}

	fake.Deny("read")
	res := flush()
	if !errors.Is(res.Err, target.ErrUnauthorized) || !strings.Contains(res.Err.Error(), "annotations read permission") {
		t.Fatalf("second run: %v, want target.ErrUnauthorized naming the read permission", res.Err)
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

// TestFlushRejectedStaysOthersGo: an annotation Axiom refuses as invalid
// stays spooled, and the deploys after it are still delivered.
func TestFlushRejectedStaysOthersGo(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	bad := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-bad")
	bad.Annotation.Title = strings.Repeat("x", render.MaxTitle+1)
	good := testEntry(deployTime.Add(time.Hour), "abcdefghijklmnopqrstuv0123456789-nixos-system-good")
	for _, e := range []*outbox.Entry{bad, good} {
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2}, log), log)
	if !errors.Is(res.Err, target.ErrRejected) || len(res.Delivered) != 1 || res.Pending != 1 {
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
			log, logs := testlog.New(t)
			store := openOutbox(t, t.TempDir(), log)
			e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
			if err := store.Add(t.Context(), e, 100); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken, retries: 2}, log), log)
			if !errors.Is(res.Err, target.ErrRejected) {
				t.Fatalf("error %v, want target.ErrRejected", res.Err)
			}
			text := res.Err.Error()
			if len(text) > 2*target.MaxErrorText || strings.ContainsAny(text, "\x1b\r\n\x00") {
				t.Errorf("error text is %d bytes or holds control characters: %q", len(text), text[:min(len(text), 200)])
			}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if len(line) > 4*target.MaxErrorText {
					t.Errorf("log line of %d bytes", len(line))
				}
			}
			left := spooled(t, store)
			if len(left) != 1 || len(left[0].LastError) > target.MaxErrorText || left[0].MaybeSent {
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
	log, _ := testlog.New(t)
	dir := t.TempDir()
	store := openOutbox(t, dir, log)
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
		var got struct {
			MaybeSent bool `json:"maybeSent"`
		}
		if err := json.Unmarshal(b, &got); err != nil || !got.MaybeSent {
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
	logs := &testlog.Buffer{}
	log := testlog.To(logs)
	dir := t.TempDir()
	store := openOutbox(t, dir, log)
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
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	e.Annotation.Title = "\"host\" \u202egen 1\u202c <script>alert(1)</script> \\ %s %!v"
	e.Annotation.Description = "line\nline\r\n\ttab \x1b[31mred\x1b[0m \u2028 {\"json\":true} ../../etc/passwd"
	e.Annotation.Datasets = []string{"déploiements", "a\"b", "../spool"}
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	flush := func() DeliveryRun {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	}
	fake.Fail(fakeaxiom.Fault{StoreThenDrop: true})
	if res := flush(); !errors.Is(res.Err, target.ErrUnavailable) {
		t.Fatalf("first run: %v", res.Err)
	}
	if res := flush(); res.Err != nil || len(res.Delivered) != 1 {
		t.Fatalf("second run: %+v", res)
	}
	if got, want := requests(fake), []string{"POST 0", "GET 200"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	storedOnce(t, fake, e)
	if last, _ := store.Last(); last == nil || last.Title != e.Annotation.Title {
		t.Errorf("state %+v, want the title kept as it was", last)
	}
}

// TestDeliverRetains checks what a delivery run tells Options.Retain: the
// system the next deploy will be compared with, and every system the state
// and the spool still refer to; a run that delivers nothing tells nothing.
func TestDeliverRetains(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	type call struct {
		next string
		keep []string
	}
	var calls []call
	a := newAnnotator(t, t.TempDir(), fake.Endpoint(), func(o *Options, _ *axiomapi.Config) {
		o.Diff = func(context.Context, string, string) (*nixinfo.Diff, error) { return &nixinfo.Diff{}, nil }
		o.Retain = func(_ context.Context, next string, keep []string) { calls = append(calls, call{next, keep}) }
	})
	const systemC = "/nix/store/cccccccccccccccccccccccccccccccc-nixos-system-host-c"
	record := func(system, previous string) {
		t.Helper()
		g := testGeneration(system)
		g.Previous = previous
		if _, err := a.Record(ctxFor(t, 5*time.Second), g, deployTime, false); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func() {
		t.Helper()
		if _, err := a.Deliver(ctxFor(t, 5*time.Second), true); err != nil {
			t.Fatal(err)
		}
	}
	record(systemA, "")
	deliver()
	// B is refused and stays spooled; C, after it, is delivered.
	record(systemB, systemA)
	record(systemC, systemB)
	fake.Fail(fakeaxiom.Fault{Status: 400})
	deliver()
	// Nothing delivered: nothing to tell.
	fake.Fail(fakeaxiom.Fault{Status: 503})
	deliver()
	want := []call{
		{systemA, []string{systemA}},
		{systemC, []string{systemC, systemB, systemA}},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("Retain was told %q\nwant %q", calls, want)
	}
}
