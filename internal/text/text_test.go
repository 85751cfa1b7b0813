package text

import (
	"encoding/json"
	"reflect"
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

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.axiom.co/v2/annotations", "https://api.axiom.co/v2/annotations"},
		{"https://user:pw@github.com/o/r", "https://***@github.com/o/r"},
		{"https://xaat-secret@github.com/o/r", "https://***@github.com/o/r"},
		{"https://u:p/a#s?s@host/x", "https://***@host/x"},
		{"https://gitlab.com/o/r?private_token=glpat-x", "https://gitlab.com/o/r?…"},
		{"https://host/o/r#token=x", "https://host/o/r#…"},
		{"http://u:pw@[::1", "http://***@[::1"},
		{"user:pw@host:o/r", "***@host:o/r"},
		{"https://host/\x1b]0;x\x07", "https://host/ ]0;x"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzURL: no user, password, query or fragment survives, whatever they
// hold.
func FuzzURL(f *testing.F) {
	f.Add("user", "pa/ss#word", "github.com", "private_token=glpat-secret")
	f.Add("", "xaat-secret", "h", "")
	f.Fuzz(func(t *testing.T, user, pass, host, query string) {
		for _, s := range []string{user, pass, host, query} {
			if strings.ContainsAny(s, "@") {
				return
			}
		}
		const secret = "S3CR3T"
		in := "https://" + user + secret + ":" + pass + secret + "@" + host + "/p?" + query + secret
		got := URL(in)
		if strings.Contains(got, secret) || !IsLine(got) || len(got) > 200 {
			t.Fatalf("URL(%q) = %q", in, got)
		}
	})
}

func TestJSON(t *testing.T) {
	in := []byte("{\"a\":\"x\u202ey\u200b\u009b\x7f\xf3\xa0\x80\x81z é\",\"b\":[1,2]}")
	want := `{"a":"x\u202ey\u200b\u009b\u007f\udb40\udc01z é","b":[1,2]}`
	if got := string(JSON(in)); got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	var a, b any
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(JSON(in), &b); err != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("JSON changed what it says: %v, %v", b, err)
	}
	if plain := []byte(`{"a":"é"}`); &JSON(plain)[0] != &plain[0] {
		t.Error("JSON copied what needs no escape")
	}
}

// FuzzJSON: the escaped JSON says what the JSON said, and holds nothing Line
// would replace but the line breaks and tabs of indentation.
func FuzzJSON(f *testing.F) {
	f.Add("x\u202ey\u009b\x7f", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		in, err := json.MarshalIndent(map[string]any{"s": s, "n": n, "l": []string{s}}, "", "  ")
		if err != nil {
			return
		}
		out := JSON(in)
		var a, b any
		if json.Unmarshal(in, &a) != nil || json.Unmarshal(out, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("JSON(%s) = %s changes its meaning", in, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if l := strings.TrimLeft(line, " "); !IsLine(l) && strings.TrimSpace(l) != "" {
				t.Fatalf("JSON(%s) line %q is unsafe", in, line)
			}
		}
	})
}
