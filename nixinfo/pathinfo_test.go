package nixinfo

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePathInfo(t *testing.T) {
	out := "/nix/store/aaa-a-1.0\t  120\n/nix/store/bbb-b    3000\n"
	c, err := parsePathInfo("/nix/store/x", []byte(out))
	if err != nil || !slices.Equal(c.paths, []string{"/nix/store/aaa-a-1.0", "/nix/store/bbb-b"}) || c.size != 3120 {
		t.Errorf("parsePathInfo = %+v", c)
	}
	for _, bad := range []string{"", "\n", "/nix/store/aaa-a\n", "/nix/store/aaa-a  12x\n"} {
		if _, err := parsePathInfo("/nix/store/x", []byte(bad)); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("parsePathInfo(%q) error = %v, want a one-line error", bad, err)
		}
	}
}

func TestFirstLine(t *testing.T) {
	in := "\n\x1b[31;1merror:\x1b[0m path '\x1b[35;1m/nix/store/x\x1b[0m' is not valid\nmore\n"
	if got, want := firstLine(in), "path '/nix/store/x' is not valid"; got != want {
		t.Errorf("firstLine = %q, want %q", got, want)
	}
	in = "error: don't know how to build these paths:\n  /nix/store/x-missing\n"
	if got, want := firstLine(in), "don't know how to build these paths: /nix/store/x-missing"; got != want {
		t.Errorf("firstLine = %q, want %q", got, want)
	}
}
