// Package text makes strings that come from outside (the system, a
// configuration, Axiom's answers) safe to show on one line and to export:
// one rule for the terminal, the annotation and the spans alike.
package text

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Line makes s safe to show on one line: invalid UTF-8, control characters
// (C0, C1, DEL: escapes, carriage returns, tabs, newlines) and invisible
// format characters (bidirectional overrides, zero-width characters) become
// spaces, and the result is trimmed.
func Line(s string) string {
	s = strings.ToValidUTF8(s, " ")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unsafe(r) {
			return ' '
		}
		return r
	}, s))
}

// IsLine says whether s is already what Line makes of it.
func IsLine(s string) bool { return Line(s) == s }

func unsafe(r rune) bool {
	return unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r)
}

// Truncate cuts s to at most max bytes on a UTF-8 boundary, ending it with
// "…" when cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	if max < len(ellipsis) {
		return ""
	}
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Field is Line, cut to max bytes: the form of any single value from outside
// that is shown or exported.
func Field(s string, max int) string { return Truncate(Line(Truncate(s, 4*max)), max) }

// URL is a URL as a message may repeat it: whatever precedes its last "@"
// (a user, a password, even one holding "/" or "#") becomes "***", and a
// query or fragment becomes "?…" or "#…", since any of them may hold a
// credential; on one line, at most 200 bytes. It works on the text, so it
// hides as much from a URL that does not parse.
func URL(s string) string {
	prefix, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+len("://")], s[i+len("://"):]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "***" + rest[i:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + rest[i:i+1] + "…"
	}
	return Field(prefix+rest, 200)
}

// JSON makes encoded JSON safe to show on a terminal without changing what
// it says: each character that Line would replace and encoding/json leaves
// as it is (DEL, C1 controls, bidirectional and zero-width characters)
// becomes a \u escape. Such characters occur only inside strings, where the
// escape means the same.
func JSON(b []byte) []byte {
	if bytes.IndexFunc(b, func(r rune) bool { return r >= 0x7f && unsafe(r) }) < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r >= 0x7f && unsafe(r) {
			for _, u := range utf16.Encode([]rune{r}) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}
