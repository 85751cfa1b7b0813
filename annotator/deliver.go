package annotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
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
		return "", fmt.Errorf("invalid API endpoint %q", endpoint)
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
		axiom.SetClient(&http.Client{Transport: retryAfterTransport{transport}}),
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
			e.LastError = err.Error()
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
				return "", err
			}
			if found != "" {
				s.log.Info("annotation found in Axiom, not sent again", "id", found, "title", e.Request.Title)
				span.SetAttributes(attribute.Bool("axiom.annotation.found", true))
				return found, nil
			}
		}
		var rc reqContext
		e.Attempts++
		ann, err := s.client.Annotations.Create(rc.attach(ctx), &e.Request)
		if err == nil {
			return ann.ID, nil
		}
		e.MaybeSent = rc.wrote.Load()
		err = s.classify(err, rc.retryAfter)
		var wait429 retryAfterError
		switch {
		case errors.As(err, &wait429):
			if !s.sleep(ctx, wait429.after) {
				return "", fmt.Errorf("%w: Axiom asked to wait %s, past the deadline", ErrRateLimited, wait429.after)
			}
		case errors.Is(err, ErrUnavailable) && try < s.retries:
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

// sleep waits d, or returns false at once when the deadline is closer than d.
func (s *Sender) sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
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

func (s *Sender) classify(err error, retryAfter *time.Duration) error {
	var le axiom.LimitError
	var he axiom.HTTPError
	status := 0
	switch {
	case errors.As(err, &le):
		status = le.Status
	case errors.As(err, &he):
		status = he.Status
	}
	switch {
	case status == http.StatusTooManyRequests || status == 430:
		e := fmt.Errorf("%w (%d)", ErrRateLimited, status)
		if retryAfter != nil && *retryAfter > 0 {
			return retryAfterError{*retryAfter, e}
		}
		return e
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%w (%d): the token needs the annotations create permission", ErrUnauthorized, status)
	case status == http.StatusRequestTimeout || status >= 500:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case status != 0:
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// lookup finds an annotation Axiom already holds with the same type, title
// and time. The SDK's List sends its end bound under the name "start", so
// the query is built here and sent with the SDK's Call.
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
	if err := s.client.Call(ctx, http.MethodGet, "/v2/annotations?"+q.Encode(), nil, &list); err != nil {
		err = s.classify(err, nil)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", err
	}
	for _, a := range list {
		d := a.Time.Sub(req.Time)
		if a.Type == req.Type && a.Title == req.Title && d < time.Second && d > -time.Second {
			return a.ID, nil
		}
	}
	return "", nil
}

// reqContext learns what happened to one request: whether it was written
// to the connection, and what Retry-After a 429 carried.
type reqContext struct {
	wrote      atomic.Bool
	retryAfter *time.Duration
}

type retryAfterKey struct{}

func (rc *reqContext) attach(ctx context.Context) context.Context {
	rc.retryAfter = new(time.Duration)
	ctx = context.WithValue(ctx, retryAfterKey{}, rc.retryAfter)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { rc.wrote.Store(true) },
	})
}

// retryAfterTransport records a 429's Retry-After, which the SDK's errors
// do not carry.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if p, ok := req.Context().Value(retryAfterKey{}).(*time.Duration); ok {
			*p = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
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
