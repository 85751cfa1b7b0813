package target

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
)

// scripted is a target that answers each Create with the next of creates
// (nil: stored) and each Lookup with found.
type scripted struct {
	creates        []error
	found          string
	made, lookedUp int
}

func (s *scripted) Create(context.Context, *annotation.Annotation) (string, error) {
	s.made++
	if len(s.creates) > 0 {
		err := s.creates[0]
		s.creates = s.creates[1:]
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("id-%d", s.made), nil
}

func (s *scripted) Lookup(context.Context, *annotation.Annotation) (string, error) {
	s.lookedUp++
	return s.found, nil
}

func unavailable(f Failure) error {
	f.Err = fmt.Errorf("%w: test", ErrUnavailable)
	return &f
}

// TestSend: the policy, whatever the target: what is tried again, what is
// looked up first, and what the tries say afterwards.
func TestSend(t *testing.T) {
	rateLimited := func(after time.Duration) error {
		return &Failure{Err: fmt.Errorf("%w (429)", ErrRateLimited), RetryAfter: after}
	}
	for _, tc := range []struct {
		name      string
		target    scripted
		tries     Tries
		settle    time.Duration
		wantErr   error
		wantMade  int
		wantLooks int
		wantMaybe bool
	}{
		{name: "stored", wantMade: 1},
		{name: "unavailable, then stored", target: scripted{creates: []error{unavailable(Failure{})}}, wantMade: 2},
		{name: "unavailable past the retries", target: scripted{creates: []error{unavailable(Failure{}), unavailable(Failure{}), unavailable(Failure{})}},
			wantErr: ErrUnavailable, wantMade: 2},
		{name: "hopeless: not tried again", target: scripted{creates: []error{unavailable(Failure{Hopeless: true})}}, wantErr: ErrUnavailable, wantMade: 1},
		{name: "rejected: not tried again", target: scripted{creates: []error{&Failure{Err: ErrRejected}}}, wantErr: ErrRejected, wantMade: 1},
		{name: "rate limited, the wait within the deadline", target: scripted{creates: []error{rateLimited(time.Millisecond)}}, wantMade: 2},
		{name: "rate limited, the wait past the deadline", target: scripted{creates: []error{rateLimited(time.Hour)}}, wantErr: ErrRateLimited, wantMade: 1},
		{name: "reached, unanswered: looked up before sent again", target: scripted{creates: []error{unavailable(Failure{Reached: true, Unanswered: true})}},
			settle: time.Nanosecond, wantMade: 2, wantLooks: 1},
		{name: "maybe sent and found", target: scripted{found: "id-0"}, tries: Tries{MaybeSent: true}, wantLooks: 1, wantMaybe: true},
		{name: "maybe sent, not found, still settling", tries: Tries{MaybeSent: true, Unanswered: time.Now()}, settle: time.Hour,
			wantErr: ErrInFlight, wantLooks: 1, wantMaybe: true},
		{name: "maybe sent, not found, settled", tries: Tries{MaybeSent: true, Unanswered: time.Now().Add(-time.Hour)}, settle: time.Minute,
			wantMade: 1, wantLooks: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s := NewSender(&tc.target, Retry{Retries: 1, Backoff: time.Millisecond, Settle: tc.settle}, nil, nil)
			tries := tc.tries
			id, err := s.Send(ctx, &annotation.Annotation{Title: "t"}, &tries)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (id != "") {
				t.Errorf("Send = %q, %v; want error %v", id, err, tc.wantErr)
			}
			if tc.target.made != tc.wantMade || tc.target.lookedUp != tc.wantLooks {
				t.Errorf("%d creates and %d lookups, want %d and %d", tc.target.made, tc.target.lookedUp, tc.wantMade, tc.wantLooks)
			}
			if tries.Attempts != tc.tries.Attempts+tc.wantMade || tries.MaybeSent != tc.wantMaybe || (err != nil) != (tries.LastError != "") {
				t.Errorf("tries %+v after %d creates, want maybe sent %v and the last error", tries, tc.wantMade, tc.wantMaybe)
			}
		})
	}
}
