package axiomapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
)

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

// classify says what a failed request's answer means, as a failure of one
// of target's classes; a rate limit carries the wait Axiom asked for.
func classify(err error, status int, a *answer, perm string) *target.Failure {
	if errors.Is(err, authhttp.ErrRedirect) {
		return &target.Failure{Err: fmt.Errorf("%w: %w", target.ErrUnavailable, err)}
	}
	why := target.ErrorText(err)
	switch {
	case status == http.StatusTooManyRequests || status == 430:
		return &target.Failure{Err: fmt.Errorf("%w (%d)", target.ErrRateLimited, status), RetryAfter: retryAfter(err, a)}
	case status == http.StatusUnauthorized:
		return &target.Failure{Err: fmt.Errorf("%w (401): Axiom does not know the token (wrong, expired, or another organisation's); use an API token with the annotations create permission", target.ErrUnauthorized)}
	case status == http.StatusForbidden && perm == permRead:
		return &target.Failure{Err: fmt.Errorf("%w (403): the token lacks the annotations read permission, needed to look up an annotation whose answer was lost before sending it again", target.ErrUnauthorized)}
	case status == http.StatusForbidden:
		return &target.Failure{Err: fmt.Errorf("%w (403): the token lacks the annotations create permission", target.ErrUnauthorized)}
	case status == http.StatusRequestTimeout || status >= 500:
		return &target.Failure{Err: fmt.Errorf("%w: %s", target.ErrUnavailable, why)}
	case status != 0:
		return &target.Failure{Err: fmt.Errorf("%w: %s", target.ErrRejected, why)}
	}
	return &target.Failure{Err: fmt.Errorf("%w: %s", target.ErrUnavailable, why)}
}

// retryAfter is how long a 429 asked to wait: its Retry-After, else until
// the rate limit's reset; 0 when it said neither.
func retryAfter(err error, a *answer) time.Duration {
	after := time.Duration(a.retryAfter.Load())
	if le := (axiom.LimitError{}); after <= 0 && errors.As(err, &le) && !le.Limit.Reset.IsZero() {
		after = time.Until(le.Limit.Reset)
	}
	return max(after, 0)
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
