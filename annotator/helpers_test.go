package annotator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target/axiomapi"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

const testToken = "xaat-00000000-test-0000-0000-000000000000"

// deployTime is when the test deploys happened: the time each annotation
// must keep, however late it is delivered.
var deployTime = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// margin is what a run may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

const (
	systemA     = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host-a"
	systemB     = "/nix/store/abcdefghijklmnopqrstuv0123456789-nixos-system-host-b"
	systemOther = "/nix/store/zyxwvutsrqponmlkjihgfedcba987654-nixos-system-other"
)

func intp(n int) *int { return &n }

// testEntry is a spooled deploy as the command makes it, rendered.
func testEntry(at time.Time, system string) *outbox.Entry {
	return &outbox.Entry{
		StorePath:  "/nix/store/" + system,
		Generation: intp(42),
		Time:       at,
		Annotation: &annotation.Annotation{
			Datasets:    []string{"deployments", "infra"},
			Type:        "nix-deploy",
			Time:        at,
			EndTime:     at,
			Title:       "host gen 42 (" + system[:7] + ")",
			Description: "host generation 42.\nSystem: /nix/store/" + system + "\n",
		},
	}
}

var testSettings = render.Settings{Datasets: []string{"deployments", "infra"}, Type: "nix-deploy"}

// testGeneration is a deployed system as discovery finds it.
func testGeneration(storePath string) *nixinfo.Generation {
	return &nixinfo.Generation{Number: intp(42), StorePath: storePath, Hostname: "host", Platform: nixinfo.NixOS, Label: "25.11"}
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

// sending is how a run reaches Axiom, as the command sets it: the Axiom
// target (none without a usable token, and then why) and the retry policy.
type sending struct {
	target   target.Target
	noTarget error
	retry    target.Retry
}

func (s sending) apply(o *Options) { o.Target, o.NoTarget, o.Retry = s.target, s.noTarget, s.retry }

// newSender is what a run sends with, over a transport of its own, so
// that no test shares a connection with another.
func newSender(t *testing.T, endpoint string, o senderOpts, log *slog.Logger) sending {
	t.Helper()
	retry := target.Retry{Retries: o.retries, Backoff: 20 * time.Millisecond, Settle: o.settle}
	if err := axiomclient.CheckToken(o.token); err != nil {
		log.Warn("nothing will be sent to Axiom", "err", err)
		return sending{noTarget: err, retry: retry}
	}
	if o.transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		o.transport = tr
	}
	tg, err := axiomapi.New(axiomapi.Config{Endpoint: endpoint, Token: o.token, Transport: o.transport, AttemptTimeout: o.attemptTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return sending{target: tg, retry: retry}
}

func openOutbox(t *testing.T, dir string, log *slog.Logger) *outbox.Outbox {
	t.Helper()
	o, err := outbox.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// flushWith delivers the spool as a run of the command does, waiting for
// the delivery lock.
func flushWith(ctx context.Context, o *outbox.Outbox, s sending, log *slog.Logger) DeliveryRun {
	opts := Options{Log: log, Tracer: otel.Tracer("test")}
	s.apply(&opts)
	res, err := New(o, opts).Deliver(ctx, true)
	if err != nil {
		res.Err = err
	}
	return res
}

// newAnnotator is an annotator on dir that delivers to endpoint; change,
// when given, adjusts its options (the Axiom target made from cfg when its
// endpoint is set).
func newAnnotator(t *testing.T, dir, endpoint string, change ...func(o *Options, cfg *axiomapi.Config)) *Annotator {
	t.Helper()
	log, _ := testlog.New(t)
	o := Options{Log: log, Settings: testSettings, SpoolLimit: 100}
	newSender(t, endpoint, senderOpts{token: testToken}, log).apply(&o)
	var cfg axiomapi.Config
	for _, c := range change {
		c(&o, &cfg)
	}
	if cfg.Endpoint != "" {
		tg, err := axiomapi.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o.Target = tg
	}
	ob, err := outbox.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	return New(ob, o)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
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
func storedOnce(t *testing.T, fake *fakeaxiom.Server, e *outbox.Entry) string {
	t.Helper()
	got := fake.Annotations()
	if len(got) != 1 {
		t.Fatalf("Axiom holds %d annotations, want exactly 1: %+v", len(got), got)
	}
	a, want := got[0], e.Annotation
	if !a.Time.Equal(want.Time) || !a.EndTime.Equal(want.Time) {
		t.Errorf("annotation time %s–%s, want the deploy's %s", a.Time, a.EndTime, want.Time)
	}
	if a.Title != want.Title || a.Type != want.Type || !slices.Equal(a.Datasets, want.Datasets) || a.Description != want.Description {
		t.Errorf("annotation %+v, want %+v", a, want)
	}
	return a.ID
}

func spooled(t *testing.T, o *outbox.Outbox) []*outbox.Entry {
	t.Helper()
	p, err := o.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// latest is the newest deploy recorded, spooled or settled, as Settled.
func latest(t *testing.T, o *outbox.Outbox) outbox.Settled {
	t.Helper()
	last, pending, err := o.Latest()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case pending != nil:
		return outbox.Settled{Seq: pending.Seq, StorePath: pending.StorePath, Generation: pending.Generation, Time: pending.Time}
	case last != nil:
		return *last
	}
	return outbox.Settled{}
}

// writeStateFile puts a state.json in dir as another machine's, or a hand
// edit, would leave it.
func writeStateFile(t *testing.T, dir string, r outbox.Settled) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"version": 1, "last": r})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
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
