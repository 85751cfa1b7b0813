package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"web-1", "web-1"},
		{"  web-1\n", "web-1"},
		{"a\x1b]0;pwned\x07b", "a ]0;pwned b"},
		{"a\x1b[2Jb", "a [2Jb"},
		{"a\rb\tc", "a b c"},
		{"a\u202eb", "a b"},
		{"a\u200bb\ufeff", "a b"},
		{"a\x85b\x9bc", "a b c"},
		{"a\xffb", "a b"},
		{"grüße 日本", "grüße 日本"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("abcdef", 6); got != "abcdef" {
		t.Errorf("Truncate kept %q", got)
	}
	if got := Truncate("abcdefgh", 6); got != "abc…" {
		t.Errorf("Truncate = %q, want abc…", got)
	}
	if got := Truncate("ééééé", 6); got != "é…" || !utf8.ValidString(got) {
		t.Errorf("Truncate split a rune: %q", got)
	}
	if got := Truncate("abcdef", 2); got != "" {
		t.Errorf("Truncate below the ellipsis = %q", got)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"web-1", "a\x1b[2J", "\u202e", "\xff\xfe", "x\u200by"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Line(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("Line(%q) = %q keeps %U", s, got, r)
			}
		}
		if Line(got) != got {
			t.Fatalf("Line is not idempotent on %q", s)
		}
		if strings.TrimSpace(got) != got {
			t.Fatalf("Line(%q) = %q is not trimmed", s, got)
		}
		if c := Field(s, 20); len(c) > 20 || !IsLine(c) && c != "" && !strings.HasSuffix(c, "…") {
			t.Fatalf("Field(%q, 20) = %q", s, c)
		}
	})
}
