package axiomclient

import (
	"errors"
	"strings"
	"testing"
)

func TestAPIBase(t *testing.T) {
	for _, tc := range []struct {
		endpoint, want string
		ok             bool
	}{
		{"https://api.axiom.co/v2/annotations", "https://api.axiom.co", true},
		{"https://api.axiom.co/v2/annotations/", "https://api.axiom.co", true},
		{"http://127.0.0.1:8080/v2/annotations", "http://127.0.0.1:8080", true},
		{"https://api.axiom.co", "https://api.axiom.co", true},
		{"https://api.axiom.co/v1/traces", "", false},
		{"https://xaat-secret@api.axiom.co/v2/annotations", "", false},
		{"https://u:xaat-secret@api.axiom.co/v2/annotations", "", false},
		{"://xaat-secret", "", false},
	} {
		got, err := APIBase(tc.endpoint)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("APIBase(%q) = %q, %v; want %q, ok %v", tc.endpoint, got, err, tc.want, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "xaat-secret") {
			t.Errorf("APIBase(%q) repeats the credentials: %v", tc.endpoint, err)
		}
	}
}

// A token that no header can carry is no token: nothing is tried with it.
func TestCheckToken(t *testing.T) {
	for tok, ok := range map[string]bool{
		"xaat-01234567-89ab-cdef-0123-456789abcdef": true,
		"xapt-0123":         true,
		"":                  false,
		"token":             false,
		"xaat-abc\x01def":   false,
		"xaat-abc def":      false,
		"xaat-abc\tdef":     false,
		"xaat-abc\x7fdef":   false,
		"xaat-abc\u202edef": false,
		"xaat-abcdéf":       false,
	} {
		err := CheckToken(tok)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrNoToken) {
			t.Errorf("CheckToken(%q) = %v, want ok %v", tok, err, ok)
		}
		if err != nil && len(tok) > 5 && strings.Contains(err.Error(), tok[5:]) {
			t.Errorf("CheckToken(%q) repeats the token: %v", tok, err)
		}
	}
}
