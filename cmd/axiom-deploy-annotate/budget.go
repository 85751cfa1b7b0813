package main

import "time"

// budget is a run's time, --timeout long: when it ends, the part of it
// kept for exporting the trace, and how long one request to Axiom may take
// before it is sent. The arithmetic is here alone.
type budget struct {
	total    time.Duration
	deadline time.Time
}

// newBudget is a budget of total from now.
func newBudget(total time.Duration, now time.Time) budget {
	return budget{total: total, deadline: now.Add(total)}
}

// reserve is the part of the budget kept for exporting the trace: a
// fifth, at most 5 s.
func (b budget) reserve() time.Duration { return min(b.total/5, 5*time.Second) }

// work is when a mode's work must end: the deadline less the reserve.
func (b budget) work() time.Time { return b.deadline.Add(-b.reserve()) }

// exportBy is when exporting what is left, begun at now, must end: the
// reserve from now, never past the deadline.
func (b budget) exportBy(now time.Time) time.Time {
	if end := now.Add(b.reserve()); end.Before(b.deadline) {
		return end
	}
	return b.deadline
}

// attempt bounds one request until it is sent, so that a hung connection
// leaves time for two more attempts on fresh ones: a quarter, at least a
// second.
func (b budget) attempt() time.Duration { return max(b.total/4, time.Second) }
