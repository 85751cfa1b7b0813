package annotator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Why a delivery failed, as far as what to do next is concerned.
var (
	// ErrNoToken: no usable token was configured.
	ErrNoToken = axiomclient.ErrNoToken
	// ErrUnauthorized: Axiom refused the token (401 or 403).
	ErrUnauthorized = errors.New("token refused")
	// ErrRateLimited: Axiom answered 429 and the deadline did not allow the
	// wait it asked for.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: Axiom could not be reached, timed out or answered 5xx.
	ErrUnavailable = errors.New("axiom unavailable")
	// ErrRejected: Axiom refused the annotation itself (another 4xx).
	ErrRejected = errors.New("annotation rejected")
	// ErrInFlight: an earlier POST of the annotation went unanswered, so
	// Axiom may still store it; a lookup has not found it yet.
	ErrInFlight = errors.New("annotation may still be stored")
)

// DefaultSettle is how long after a POST went unanswered it is not sent
// again: longer than the proxies in front of an API hold a request (one to
// two minutes).
const DefaultSettle = 3 * time.Minute

// SenderConfig says how to reach Axiom.
type SenderConfig struct {
	// Endpoint is the annotations API, https://api.axiom.co/v2/annotations.
	Endpoint string
	// Token is the Axiom token; TokenErr, when set, says why there is none
	// to use, and nothing is sent.
	Token    string
	TokenErr error
	// OrgID goes with a personal token (xapt-…).
	OrgID string
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Retries is how many times one delivery is tried again within the
	// deadline after Axiom was unavailable; Backoff is the first wait, doubled
	// each time.
	Retries int
	Backoff time.Duration
	// AttemptTimeout bounds each request until it is sent, so that one
	// hung connection leaves time to try again on another; 0 means none
	// but the deadline. A POST sent is waited for until the deadline.
	AttemptTimeout time.Duration
	// Settle is how long after a POST went unanswered Axiom may still
	// store it: until then, a lookup that does not find the annotation
	// leaves it spooled rather than sending it again. 0 means
	// DefaultSettle.
	Settle time.Duration
	// Tracer makes the lookup's span; nil makes none.
	Tracer trace.Tracer
}

// Sender delivers annotations with the Axiom SDK. It owns the retry policy:
// the SDK's own retries are off, because a retried POST whose answer was lost
// would store the annotation twice. Before sending again what may have
// reached Axiom, it looks the annotation up with the list API.
type Sender struct {
	client   *axiom.Client
	tokenErr error
	cfg      SenderConfig
	tracer   trace.Tracer
	log      *slog.Logger
}

// NewSender makes the run's sender. The token is decided here, once: a
// missing or malformed one is logged now and makes every delivery fail with
// ErrNoToken, so that deploys are still spooled.
func NewSender(cfg SenderConfig, log *slog.Logger) (*Sender, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := axiomclient.APIBase(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	tokenErr := cfg.TokenErr
	if tokenErr == nil {
		tokenErr = axiomclient.CheckToken(cfg.Token)
	}
	if tokenErr != nil {
		if !errors.Is(tokenErr, ErrNoToken) {
			tokenErr = fmt.Errorf("%w: %v", ErrNoToken, tokenErr)
		}
		log.Warn("nothing will be sent to Axiom", "err", tokenErr)
		cfg.Token = ""
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	client, err := axiomclient.New(axiomclient.Options{URL: base, Token: cfg.Token, OrgID: cfg.OrgID, Transport: answerTransport{transport}})
	if err != nil {
		return nil, err
	}
	cfg.Retries = max(cfg.Retries, 0)
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	tr := cfg.Tracer
	if tr == nil {
		tr = noop.NewTracerProvider().Tracer("")
	}
	return &Sender{client: client, tokenErr: tokenErr, cfg: cfg, tracer: tr, log: log}, nil
}

// canSend says whether the sender has a token to send with.
func (s *Sender) canSend() bool { return s.tokenErr == nil }

// attempt bounds one request by the attempt timeout.
func (s *Sender) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.AttemptTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.AttemptTimeout)
}

// postAttempt bounds a POST by the attempt timeout only until its request
// is sent; from then on ctx alone bounds it. Axiom may store a request it
// has however late it answers, and sending it again on another connection
// is what would store it twice.
func (s *Sender) postAttempt(ctx context.Context, a *answer) (context.Context, context.CancelFunc) {
	actx, cancel := context.WithCancel(ctx)
	if s.cfg.AttemptTimeout <= 0 {
		return actx, cancel
	}
	t := time.AfterFunc(s.cfg.AttemptTimeout, func() {
		if !a.wrote.Load() {
			cancel()
		}
	})
	return actx, func() { t.Stop(); cancel() }
}

// unanswered says whether a POST that reached Axiom ended without an
// answer from what handled it: none came, or a proxy stopped waiting (408,
// 502, 504). Axiom may then still be storing it.
func unanswered(status int) bool {
	switch status {
	case 0, http.StatusRequestTimeout, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// unsettled says whether an entry's last POST went unanswered too recently
// for Axiom to be done with it. A clock set back counts as recent.
func (s *Sender) unsettled(e *Entry) bool {
	if e.Unanswered.IsZero() {
		return false
	}
	d := time.Since(e.Unanswered)
	return d < s.cfg.Settle && d > -s.cfg.Settle
}

// deliver sends one spooled annotation and returns its id. It updates the
// entry's Attempts, MaybeSent and LastError; the caller saves it.
func (s *Sender) deliver(ctx context.Context, e *Entry) (id string, err error) {
	defer func() {
		if err != nil {
			e.LastError = errText(err)
		} else {
			e.LastError = ""
		}
	}()
	if s.tokenErr != nil {
		return "", s.tokenErr
	}
	wait := s.cfg.Backoff
	for try := 0; ; try++ {
		if e.MaybeSent {
			found, again, err := s.settle(ctx, e, try, wait)
			switch {
			case again:
				wait *= 2
				continue
			case err != nil:
				return "", err
			case found != "":
				return found, nil
			}
		}
		var a answer
		e.Attempts++
		actx, cancel := s.postAttempt(ctx, &a)
		ann, err := s.client.Annotations.Create(a.attach(actx), createRequest(e.Request))
		cancel()
		if err == nil {
			return annotationID(ann.ID), nil
		}
		// Only an answer that says Axiom did not take the request settles
		// it (a redirect, which is not followed, does); without one, what
		// reached Axiom may be stored, now or later.
		status := a.statusOf(err)
		e.MaybeSent = a.wrote.Load() && !refused(status) && !errors.Is(err, authhttp.ErrRedirect)
		e.Unanswered = time.Time{}
		if e.MaybeSent && unanswered(status) {
			e.Unanswered = time.Now().UTC()
		}
		cause := err
		err = s.classify(err, status, &a, permCreate)
		var wait429 retryAfterError
		switch {
		case errors.As(err, &wait429):
			if !s.sleep(ctx, wait429.after) {
				return "", fmt.Errorf("%w: Axiom asked to wait %s, past the deadline", ErrRateLimited, wait429.after.Round(time.Second))
			}
		case errors.Is(err, ErrUnavailable) && try < s.cfg.Retries && !hopeless(cause) && fits(ctx, wait):
			s.log.Warn("axiom unavailable, trying again", "err", err, "in", wait)
			if !s.sleep(ctx, wait) {
				return "", err
			}
			wait *= 2
		default:
			return "", err
		}
	}
}

// settle looks up an entry that Axiom may hold already. It returns the
// annotation's id when found, again when the lookup should be tried again
// after wait, and ErrInFlight while a POST that went unanswered may still
// be stored. Otherwise the entry is cleared to be sent.
func (s *Sender) settle(ctx context.Context, e *Entry, try int, wait time.Duration) (found string, again bool, err error) {
	found, err = s.lookup(ctx, e.Request)
	if err != nil {
		// The list API unavailable is as passing as the create API
		// unavailable: try again within the deadline.
		if errors.Is(err, ErrUnavailable) && try < s.cfg.Retries && !hopeless(err) && fits(ctx, wait) {
			s.log.Warn("axiom unavailable, trying again", "err", err, "in", wait)
			if s.sleep(ctx, wait) {
				return "", true, nil
			}
		}
		return "", false, err
	}
	if found != "" {
		s.log.Info("annotation found in Axiom, not sent again", "id", found, "title", e.Request.Title)
		trace.SpanFromContext(ctx).SetAttributes(vocab.AxiomAnnotationFound.Bool(true))
		return annotationID(found), false, nil
	}
	if s.unsettled(e) {
		return "", false, fmt.Errorf("%w: a request sent before went unanswered at %s; not found in Axiom yet, it is sent again from %s on",
			ErrInFlight, e.Unanswered.Format(time.RFC3339), e.Unanswered.Add(s.cfg.Settle).Format(time.RFC3339))
	}
	// Axiom does not hold it: sending it is safe.
	e.MaybeSent, e.Unanswered = false, time.Time{}
	return "", false, nil
}

// maxID bounds an annotation id from Axiom's answer ("ann_…"), which the
// state keeps and the run shows.
const maxID = 128

func annotationID(id string) string { return text.Field(id, maxID) }

// refused says whether an answer's status says that Axiom did not take the
// request: a 4xx other than 408, which a proxy may send after passing the
// request on.
func refused(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout
}

// hopeless says whether trying again within this run cannot help: the
// server's certificate is not trusted, its name does not exist, or it
// answers with a redirect. The entry stays spooled all the same, for a run
// after the fix.
func hopeless(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var dns *net.DNSError
	return errors.Is(err, authhttp.ErrRedirect) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		(errors.As(err, &dns) && dns.IsNotFound)
}

// fits says whether a wait of d ends before ctx does.
func fits(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) >= d
}

// sleep waits d, or returns false at once when the deadline is closer than d.
func (s *Sender) sleep(ctx context.Context, d time.Duration) bool {
	if !fits(ctx, d) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
