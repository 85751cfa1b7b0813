// Package target is where annotations go: the small interface a target
// implements (create an annotation, look one up), the classes of failure
// every target reports, and the one policy that sends through any of
// them (Sender): tried again while the target is unavailable, within the
// deadline, and looked up before it is sent again when an earlier request
// may have reached the target. A new target is one package that
// implements Target; axiomapi is Axiom's annotations API.
package target

import (
	"context"
	"errors"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Target is where annotations are delivered.
type Target interface {
	// Create stores a and returns its id. A failure wraps one of the
	// classes below; a *Failure says how far the request got.
	Create(ctx context.Context, a *annotation.Annotation) (id string, err error)
	// Lookup returns the id of an annotation the target holds already
	// that is a (annotation.Same), "" when it holds none. A failure is as
	// Create's.
	Lookup(ctx context.Context, a *annotation.Annotation) (id string, err error)
}

// Why a delivery failed, as far as what to do next is concerned. (Without
// a target there is nothing to fail: axiomclient.ErrNoToken says why.)
var (
	// ErrUnauthorized: the target refused the credentials (401 or 403).
	ErrUnauthorized = errors.New("token refused")
	// ErrRateLimited: the target answered 429 and the deadline did not
	// allow the wait it asked for.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the target could not be reached, timed out or
	// answered 5xx.
	ErrUnavailable = errors.New("axiom unavailable")
	// ErrRejected: the target refused the annotation itself (another 4xx).
	ErrRejected = errors.New("annotation rejected")
	// ErrInFlight: an earlier request with the annotation went unanswered,
	// so the target may still store it; a lookup has not found it yet.
	ErrInFlight = errors.New("annotation may still be stored")
)

// Failure is a request to a target that failed, and what it says about
// trying again.
type Failure struct {
	// Err wraps one of the classes.
	Err error
	// Reached says that the request may have reached the target, which
	// may then hold the annotation, now or later: look it up before
	// sending it again.
	Reached bool
	// Unanswered says that it reached the target and ended without an
	// answer from what handled it (none came, or a proxy stopped
	// waiting): the target may still be storing it.
	Unanswered bool
	// RetryAfter is how long the target asked to wait (a rate limit), 0
	// when it did not say.
	RetryAfter time.Duration
	// Hopeless says that trying again within this run cannot help (an
	// untrusted certificate, a name that does not exist, a redirect).
	Hopeless bool
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// failureOf is err's Failure; an error that is none reached the target
// as far as anyone knows.
func failureOf(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Err: err, Reached: true}
}

// MaxErrorText bounds what an error carries of an answer: the target's
// message, or whatever a proxy sent instead, goes to the journal and the
// spool.
const MaxErrorText = 300

// ErrorText is an error's text on one line and bounded.
func ErrorText(err error) string { return text.Field(err.Error(), MaxErrorText) }

// ErrNoTarget is why nothing can be sent where no target was given.
var ErrNoTarget = errors.New("no target: nothing is sent")
