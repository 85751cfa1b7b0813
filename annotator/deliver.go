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
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/bdsqqq/axiom-deploy-annotation/annotator")

// Why a delivery failed, as far as what to do next is concerned.
var (
	// ErrNoToken: no token was configured or readable.
	ErrNoToken = errors.New("no Axiom token")
	// ErrUnauthorized: Axiom refused the token (401 or 403).
	ErrUnauthorized = errors.New("token refused")
	// ErrRateLimited: Axiom answered 429 and the deadline did not allow the
	// wait it asked for.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: Axiom could not be reached, timed out or answered 5xx.
	ErrUnavailable = errors.New("axiom unavailable")
	// ErrRejected: Axiom refused the annotation itself (another 4xx).
	ErrRejected = errors.New("annotation rejected")
)

// SenderConfig says how to reach Axiom.
type SenderConfig struct {
	// Endpoint is the annotations API, https://api.axiom.co/v2/annotations.
	Endpoint string
	Token    string
	// OrgID goes with a personal token (xapt-…).
	OrgID string
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Retries is how many times one delivery is tried again within the
	// deadline after Axiom was unavailable; Backoff is the first wait, doubled
	// each time.
	Retries int
	Backoff time.Duration
}

// Sender delivers annotations with the Axiom SDK. It owns the retry policy:
// the SDK's own retries are off, because a retried POST whose answer was lost
// would store the annotation twice. Before sending again what may have
// reached Axiom, it looks the annotation up with the list API.
type Sender struct {
	client  *axiom.Client
	token   bool
	retries int
	backoff time.Duration
	log     *slog.Logger
}

// APIBase is the API's base URL for an annotations endpoint.
func APIBase(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", errors.New("invalid API endpoint: not a URL")
	}
	if u.User != nil {
		// Whatever is there may be a token: never repeat it.
		return "", errors.New("invalid API endpoint: it holds credentials; the token goes in the token file")
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path != "" && path != "/v2/annotations" {
		return "", fmt.Errorf("invalid API endpoint %q: want https://host/v2/annotations", endpoint)
	}
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	return u.String(), nil
}

// NewSender makes a sender. A missing token is not an error here: Deliver
// reports ErrNoToken, so that the deploy is still spooled.
func NewSender(cfg SenderConfig, log *slog.Logger) (*Sender, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := APIBase(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	token := cfg.Token
	if token == "" {
		// The SDK wants a token to build a client; no request is made
		// without the real one.
		token = "xaat-none"
	}
	opts := []axiom.Option{
		axiom.SetNoEnv(),
		axiom.SetNoRetry(),
		axiom.SetURL(base),
		axiom.SetToken(token),
		axiom.SetClient(&http.Client{Transport: answerTransport{transport}}),
		axiom.SetUserAgent("axiom-deploy-annotation"),
	}
	if cfg.OrgID != "" {
		opts = append(opts, axiom.SetOrganizationID(cfg.OrgID))
	}
	client, err := axiom.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("axiom client: %w", err)
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	return &Sender{client: client, token: cfg.Token != "", retries: cfg.Retries, backoff: cfg.Backoff, log: log}, nil
}

// ValidToken says whether a token has the form Axiom gives its tokens.
func ValidToken(token string) bool {
	return strings.HasPrefix(token, "xaat-") || strings.HasPrefix(token, "xapt-")
}

// Deliver sends one spooled annotation and returns its id. It updates the
// entry's Attempts, MaybeSent and LastError; the caller saves it.
func (s *Sender) Deliver(ctx context.Context, e *Entry) (id string, err error) {
	ctx, span := tracer.Start(ctx, "deliver", trace.WithAttributes(
		attribute.String("nix.store_path", e.StorePath),
		attribute.String("axiom.annotation.title", e.Request.Title),
		attribute.String("axiom.annotation.time", e.Request.Time.Format(time.RFC3339Nano)),
	))
	defer func() {
		span.SetAttributes(attribute.Int("axiom.annotation.attempts", e.Attempts))
		if err != nil {
			e.LastError = errText(err)
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.String("axiom.annotation.id", id))
		}
		span.End()
	}()
	if !s.token {
		return "", ErrNoToken
	}
	wait := s.backoff
	for try := 0; ; try++ {
		if e.MaybeSent {
			found, err := s.lookup(ctx, &e.Request)
			if err != nil {
				// The list API unavailable is as passing as the create API
				// unavailable: try again within the deadline.
				if errors.Is(err, ErrUnavailable) && try < s.retries && fits(ctx, wait) {
					s.log.Warn("axiom unavailable, trying again", "err", err, "in", wait)
					if s.sleep(ctx, wait) {
						wait *= 2
						continue
					}
				}
				return "", err
			}
			if found != "" {
				s.log.Info("annotation found in Axiom, not sent again", "id", found, "title", e.Request.Title)
				span.SetAttributes(attribute.Bool("axiom.annotation.found", true))
				return found, nil
			}
			// Axiom does not hold it: sending it is safe.
			e.MaybeSent = false
		}
		var a answer
		e.Attempts++
		ann, err := s.client.Annotations.Create(a.attach(ctx), &e.Request)
		if err == nil {
			return ann.ID, nil
		}
		// Only an answer that says Axiom did not take the request settles
		// it; without one, what reached Axiom may be stored.
		status := a.statusOf(err)
		e.MaybeSent = a.wrote.Load() && !refused(status)
		cause := err
		err = s.classify(err, status, &a, permCreate)
		var wait429 retryAfterError
		switch {
		case errors.As(err, &wait429):
			if !s.sleep(ctx, wait429.after) {
				return "", fmt.Errorf("%w: Axiom asked to wait %s, past the deadline", ErrRateLimited, wait429.after.Round(time.Second))
			}
		case errors.Is(err, ErrUnavailable) && try < s.retries && !hopeless(cause) && fits(ctx, wait):
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

// refused says whether an answer's status says that Axiom did not take the
// request: a 4xx other than 408, which a proxy may send after passing the
// request on.
func refused(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout
}

// hopeless says whether trying again within this run cannot help: the
// server's certificate is not trusted, or its name does not exist. The
// entry stays spooled all the same, for a run after the fix.
func hopeless(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var dns *net.DNSError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
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

type retryAfterError struct {
	after time.Duration
	err   error
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// What a request needs of the token.
const (
	permCreate = "create"
	permRead   = "read"
)

// statusOf is the status of the answer to a failed request, 0 when none
// came: the SDK's typed errors carry it, except when an error body could
// not be read.
func (a *answer) statusOf(err error) int {
	var le axiom.LimitError
	var he axiom.HTTPError
	switch {
	case errors.As(err, &le):
		return le.Status
	case errors.As(err, &he):
		return he.Status
	}
	if status := int(a.status.Load()); status >= 400 {
		return status
	}
	return 0
}

func (s *Sender) classify(err error, status int, a *answer, perm string) error {
	var reset time.Time
	if le := (axiom.LimitError{}); errors.As(err, &le) {
		reset = le.Limit.Reset
	}
	why := errText(err)
	switch {
	case status == http.StatusTooManyRequests || status == 430:
		e := fmt.Errorf("%w (%d)", ErrRateLimited, status)
		after := time.Duration(a.retryAfter.Load())
		if after <= 0 && !reset.IsZero() {
			after = time.Until(reset)
		}
		if after > 0 {
			return retryAfterError{after, e}
		}
		return e
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w (401): Axiom does not know the token (wrong, expired, or another organisation's); use an API token with the annotations create permission", ErrUnauthorized)
	case status == http.StatusForbidden && perm == permRead:
		return fmt.Errorf("%w (403): the token lacks the annotations read permission, needed to look up an annotation whose answer was lost before sending it again", ErrUnauthorized)
	case status == http.StatusForbidden:
		return fmt.Errorf("%w (403): the token lacks the annotations create permission", ErrUnauthorized)
	case status == http.StatusRequestTimeout || status >= 500:
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	case status != 0:
		return fmt.Errorf("%w: %s", ErrRejected, why)
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, why)
}

// maxErrText bounds what an error carries of an answer: Axiom's message, or
// whatever a proxy sent instead, goes to the journal and the spool.
const maxErrText = 300

// errText is an error's text on one line and bounded.
func errText(err error) string {
	return Truncate(Clean(Truncate(err.Error(), 4*maxErrText)), maxErrText)
}

// lookup finds an annotation Axiom already holds with the same type,
// datasets, title and time. The SDK's List sends its end bound under the
// name "start", so the query is built here and sent with the SDK's Call.
func (s *Sender) lookup(ctx context.Context, req *axiom.AnnotationCreateRequest) (string, error) {
	ctx, span := tracer.Start(ctx, "lookup")
	defer span.End()
	q := url.Values{}
	for _, d := range req.Datasets {
		q.Add("datasets", d)
	}
	q.Set("start", req.Time.Add(-time.Minute).Format(time.RFC3339Nano))
	q.Set("end", req.Time.Add(time.Minute).Format(time.RFC3339Nano))
	var list []*axiom.Annotation
	var ans answer
	if err := s.client.Call(ans.attach(ctx), http.MethodGet, "/v2/annotations?"+q.Encode(), nil, &list); err != nil {
		err = s.classify(err, ans.statusOf(err), &ans, permRead)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", err
	}
	for _, a := range list {
		if a == nil {
			continue
		}
		d := a.Time.Sub(req.Time)
		if a.Type == req.Type && a.Title == req.Title && d < time.Second && d > -time.Second && sameSet(a.Datasets, req.Datasets) {
			return a.ID, nil
		}
	}
	return "", nil
}

// sameSet says whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// answer learns what happened to one request, which the SDK's errors do
// not all say: whether it was written to the connection, the status that
// came back, and what Retry-After a 429 carried.
type answer struct {
	wrote      atomic.Bool
	status     atomic.Int64
	retryAfter atomic.Int64 // a time.Duration
}

type answerKey struct{}

func (a *answer) attach(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, answerKey{}, a)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { a.wrote.Store(true) },
	})
}

// answerTransport fills in the answer of a request made with one attached.
type answerTransport struct{ base http.RoundTripper }

func (t answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if a, ok := req.Context().Value(answerKey{}).(*answer); ok && err == nil {
		a.status.Store(int64(resp.StatusCode))
		if resp.StatusCode == http.StatusTooManyRequests {
			a.retryAfter.Store(int64(parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())))
		}
	}
	return resp, err
}

// parseRetryAfter reads Retry-After: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
