package nixinfo

import (
	"strings"
	"testing"
)

// Sizes are bounded: a negative one, or a closure whose sum would
// overflow, is an unexpected answer, not a wrapped-around number.
func TestParsePathInfoBounds(t *testing.T) {
	for _, bad := range []string{
		"/nix/store/aaa-a  -5\n",
		"/nix/store/aaa-a  9223372036854775807\n/nix/store/bbb-b  9223372036854775807\n",
		"/nix/store/aaa-a  1152921504606846977\n",
	} {
		if c, err := parsePathInfo("/nix/store/x", []byte(bad)); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parsePathInfo(%q) = size %d, error %v; want a one-line error", bad, c.size, err)
		}
	}
	if c, err := parsePathInfo("/nix/store/x", []byte("/nix/store/aaa-a  1152921504606846976\n")); err != nil || c.size != 1<<60 {
		t.Errorf("an exbibyte: %d, %v", c.size, err)
	}
}
