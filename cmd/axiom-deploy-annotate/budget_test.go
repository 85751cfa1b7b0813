package main

import (
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	for _, tc := range []struct {
		total, reserve, attempt time.Duration
	}{
		{time.Second, 200 * time.Millisecond, time.Second},
		{30 * time.Second, 5 * time.Second, 7500 * time.Millisecond},
		{10 * time.Second, 2 * time.Second, 2500 * time.Millisecond},
		{2 * time.Minute, 5 * time.Second, 30 * time.Second},
	} {
		b := newBudget(tc.total, now)
		if !b.deadline.Equal(now.Add(tc.total)) || b.reserve() != tc.reserve || b.attempt() != tc.attempt || !b.work().Equal(b.deadline.Add(-tc.reserve)) {
			t.Errorf("%s: deadline %s, reserve %s, attempt %s, work until %s; want reserve %s, attempt %s",
				tc.total, b.deadline, b.reserve(), b.attempt(), b.work(), tc.reserve, tc.attempt)
		}
		// Exporting begun early takes the reserve; begun late, it ends
		// with the run.
		if got := b.exportBy(now); !got.Equal(now.Add(tc.reserve)) {
			t.Errorf("%s: export begun at the start ends %s", tc.total, got)
		}
		if got := b.exportBy(b.deadline.Add(-time.Millisecond)); !got.Equal(b.deadline) {
			t.Errorf("%s: export begun just before the deadline ends %s, past it", tc.total, got)
		}
	}
}
