package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// DefaultSettle is how long after a request went unanswered it is not sent
// again: longer than the proxies in front of an API hold a request (one to
// two minutes).
const DefaultSettle = 3 * time.Minute

// Retry is how one delivery tries again.
type Retry struct {
	// Retries is how many times it is tried again within the deadline
	// after the target was unavailable; Backoff is the first wait (500 ms
	// when 0), doubled each time.
	Retries int
	Backoff time.Duration
	// Settle is how long after a request went unanswered the target may
	// still store it: until then, a lookup that does not find the
	// annotation leaves it spooled rather than sending it again. 0 means
	// DefaultSettle.
	Settle time.Duration
}

// Tries is what the deliveries of one annotation have learnt so far; the
// outbox keeps it with the annotation.
type Tries struct {
	// Attempts counts the requests to create it.
	Attempts int
	// MaybeSent says that a request may have reached the target, which
	// may hold the annotation already: look it up before sending.
	MaybeSent bool
	// Unanswered is when the last request that reached the target ended
	// without an answer: until Retry.Settle after, a lookup that does not
	// find the annotation does not send it again.
	Unanswered time.Time
	// LastError is the last failure, as ErrorText writes it.
	LastError string
}

// Sender sends annotations through a target, once each. It owns the retry
// policy: a target makes each request once.
type Sender struct {
	target Target
	retry  Retry
	tracer trace.Tracer
	log    *slog.Logger
}

// NewSender is a sender through t; tracer makes the lookups' spans (nil
// makes none).
func NewSender(t Target, r Retry, tracer trace.Tracer, log *slog.Logger) *Sender {
	r.Retries = max(r.Retries, 0)
	if r.Settle <= 0 {
		r.Settle = DefaultSettle
	}
	if r.Backoff <= 0 {
		r.Backoff = 500 * time.Millisecond
	}
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{target: t, retry: r, tracer: tracer, log: log}
}

// Send delivers a and returns its id, updating tries; the caller keeps
// them. What may have reached the target is looked up before it is sent
// again.
func (s *Sender) Send(ctx context.Context, a *annotation.Annotation, tries *Tries) (id string, err error) {
	defer func() {
		if err != nil {
			tries.LastError = ErrorText(err)
		} else {
			tries.LastError = ""
		}
	}()
	wait := s.retry.Backoff
	for try := 0; ; try++ {
		if tries.MaybeSent {
			found, again, err := s.settle(ctx, a, tries, try, wait)
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
		tries.Attempts++
		id, err := s.target.Create(ctx, a)
		if err == nil {
			return id, nil
		}
		f := failureOf(err)
		tries.MaybeSent = f.Reached
		tries.Unanswered = time.Time{}
		if f.Reached && f.Unanswered {
			tries.Unanswered = time.Now().UTC()
		}
		switch {
		case errors.Is(err, ErrRateLimited) && f.RetryAfter > 0:
			if !s.sleep(ctx, f.RetryAfter) {
				return "", fmt.Errorf("%w: Axiom asked to wait %s, past the deadline", ErrRateLimited, f.RetryAfter.Round(time.Second))
			}
		case s.tryAgain(ctx, err, try, wait):
			wait *= 2
		default:
			return "", err
		}
	}
}

// tryAgain waits before the next try when err says the target was
// unavailable, the retries are not used up and the wait ends before the
// deadline; false when there is to be no next try.
func (s *Sender) tryAgain(ctx context.Context, err error, try int, wait time.Duration) bool {
	if !errors.Is(err, ErrUnavailable) || try >= s.retry.Retries || failureOf(err).Hopeless || !fits(ctx, wait) {
		return false
	}
	s.log.Warn("axiom unavailable, trying again", "err", err, "in", wait)
	return s.sleep(ctx, wait)
}

// settle looks up an annotation that the target may hold already. It
// returns the annotation's id when found, again when the lookup should be
// tried again after wait, and ErrInFlight while a request that went
// unanswered may still be stored. Otherwise tries is cleared to send.
func (s *Sender) settle(ctx context.Context, a *annotation.Annotation, tries *Tries, try int, wait time.Duration) (found string, again bool, err error) {
	found, err = s.lookup(ctx, a)
	if err != nil {
		// The lookup unavailable is as passing as the create unavailable:
		// try again within the deadline.
		if s.tryAgain(ctx, err, try, wait) {
			return "", true, nil
		}
		return "", false, err
	}
	if found != "" {
		s.log.Info("annotation found in Axiom, not sent again", "id", found, "title", a.Title)
		trace.SpanFromContext(ctx).SetAttributes(vocab.AxiomAnnotationFound.Bool(true))
		return found, false, nil
	}
	if s.unsettled(tries) {
		return "", false, fmt.Errorf("%w: a request sent before went unanswered at %s; not found in Axiom yet, it is sent again from %s on",
			ErrInFlight, tries.Unanswered.Format(time.RFC3339), tries.Unanswered.Add(s.retry.Settle).Format(time.RFC3339))
	}
	// The target does not hold it: sending it is safe.
	tries.MaybeSent, tries.Unanswered = false, time.Time{}
	return "", false, nil
}

// lookup asks the target for the annotation, under the span "lookup".
func (s *Sender) lookup(ctx context.Context, a *annotation.Annotation) (string, error) {
	ctx, span := s.tracer.Start(ctx, vocab.SpanLookup)
	defer span.End()
	id, err := s.target.Lookup(ctx, a)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return id, err
}

// unsettled says whether the last request went unanswered too recently for
// the target to be done with it. A clock set back counts as recent.
func (s *Sender) unsettled(tries *Tries) bool {
	if tries.Unanswered.IsZero() {
		return false
	}
	d := time.Since(tries.Unanswered)
	return d < s.retry.Settle && d > -s.retry.Settle
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
