package annotator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"

	"github.com/axiomhq/axiom-go/axiom"
	"go.opentelemetry.io/otel/codes"
)

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
	if errors.Is(err, authhttp.ErrRedirect) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
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
	return text.Truncate(text.Line(text.Truncate(err.Error(), 4*maxErrText)), maxErrText)
}

// lookup finds an annotation Axiom already holds with the same type,
// datasets, title and time. The SDK's List sends its end bound under the
// name "start", so the query is built here and sent with the SDK's Call.
func (s *Sender) lookup(ctx context.Context, req *annotation.Annotation) (string, error) {
	ctx, span := s.tracer.Start(ctx, vocab.SpanLookup)
	defer span.End()
	q := url.Values{}
	for _, d := range req.Datasets {
		q.Add("datasets", d)
	}
	q.Set("start", req.Time.Add(-time.Minute).Format(time.RFC3339Nano))
	q.Set("end", req.Time.Add(time.Minute).Format(time.RFC3339Nano))
	var list []*axiom.Annotation
	var ans answer
	actx, cancel := s.attempt(ctx)
	defer cancel()
	if err := s.client.Call(ans.attach(actx), http.MethodGet, "/v2/annotations?"+q.Encode(), nil, &list); err != nil {
		err = s.classify(err, ans.statusOf(err), &ans, permRead)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", err
	}
	for _, a := range list {
		if a != nil && req.Same(&annotation.Annotation{Datasets: a.Datasets, Type: a.Type, Time: a.Time, Title: a.Title}) {
			return a.ID, nil
		}
	}
	return "", nil
}

// createRequest is the SDK's form of an annotation.
func createRequest(a *annotation.Annotation) *axiom.AnnotationCreateRequest {
	return &axiom.AnnotationCreateRequest{
		Datasets: a.Datasets, Type: a.Type, Time: a.Time, EndTime: a.EndTime,
		Title: a.Title, Description: a.Description, URL: a.URL,
	}
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

// maxRetryAfter bounds a Retry-After: past any run's deadline, and far
// from where seconds as a Duration overflow.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After: delay-seconds or an HTTP date, at most
// maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
