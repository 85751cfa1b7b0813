package dashboard

import (
	"math"
	"testing"

	"github.com/axiomhq/axiom-go/axiom/query"
)

// A number from Axiom's answer is a count only when it is one: a float
// beyond what it holds exactly, or with a fraction, is unknown rather than
// wrapped around.
func TestNumberBounds(t *testing.T) {
	c := query.Column{42.0, 1e300, -1e300, 42.5, math.Inf(1), float64(1 << 53), float64(1<<53) * 2, "17", "99999999999999999999", int64(7), true, nil}
	want := []any{int64(42), nil, nil, nil, nil, int64(1 << 53), nil, int64(17), nil, int64(7), nil, nil}
	for i := range c {
		got := number(c, i)
		switch {
		case want[i] == nil && got != nil:
			t.Errorf("number(%v) = %d, want unknown", c[i], *got)
		case want[i] != nil && (got == nil || *got != want[i].(int64)):
			t.Errorf("number(%v) = %v, want %d", c[i], got, want[i])
		}
	}
}
