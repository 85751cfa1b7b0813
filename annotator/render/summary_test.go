package render

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

func ch(name string, before, after []string) nixinfo.Change {
	return nixinfo.Change{Name: name, Before: before, After: after}
}

func v(vs ...string) []string { return vs }

// sample is sorted by name, as nixinfo.DiffSystems returns changes.
var sample = []nixinfo.Change{
	{Name: "curl", Before: v("8.7.1"), After: v("8.6.0")},
	{Name: "hello", Before: v("2.12"), After: v("2.12.1")},
	{Name: "htop", Before: v(), After: v("3.3.0")},
	{Name: "linux", Before: v("6.6.30", "6.6.30-modules"), After: v("6.6.31", "6.6.31-modules")},
	{Name: "linux-firmware", Before: v("20240513"), After: v("20240610")},
	{Name: "nano", Before: v("7.2"), After: v()},
	{Name: "openssl", Before: v("1.1.1w", "3.0.13"), After: v("3.0.14")},
	{Name: "unit-foo.service", Before: v(), After: v("")},
	{Name: "zlib", Before: v(""), After: v("1.3")},
}

func TestSummarizeChanges(t *testing.T) {
	want := "linux 6.6.30→6.6.31, ↓curl 8.7.1→8.6.0, hello 2.12→2.12.1, linux-firmware 20240513→20240610, " +
		"openssl 1.1.1w/3.0.13→3.0.14, zlib ε→1.3, +htop 3.3.0, +unit-foo.service, -nano"
	if got := summarizeChanges(sample, 512); got != want {
		t.Errorf("SummarizeChanges =\n%s\nwant\n%s", got, want)
	}
}

func TestSummarizeChangesCut(t *testing.T) {
	full := summarizeChanges(sample, 512)
	for budget := 0; budget <= len(full)+1; budget++ {
		got := summarizeChanges(sample, budget)
		if len(got) > budget {
			t.Fatalf("budget %d: %d bytes: %q", budget, len(got), got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("budget %d: invalid UTF-8: %q", budget, got)
		}
		switch {
		case budget >= len(full):
			if got != full {
				t.Errorf("budget %d: %q, want everything", budget, got)
			}
		case budget >= len("9 package changes") && got == "":
			t.Errorf("budget %d: empty", budget)
		case strings.HasPrefix(got, "linux 6.6.30→6.6.31, "):
			if !strings.HasSuffix(got, " more") {
				t.Errorf("budget %d: %q does not end with …and N more", budget, got)
			}
		case got != "" && got != "9 package changes":
			t.Errorf("budget %d: %q", budget, got)
		}
	}

	got := summarizeChanges(sample, 60)
	if want := "linux 6.6.30→6.6.31, ↓curl 8.7.1→8.6.0, …and 7 more"; got != want {
		t.Errorf("budget 60: %q, want %q", got, want)
	}
	// The count says how many were left out.
	got = summarizeChanges(sample, 100)
	if want := "linux 6.6.30→6.6.31, ↓curl 8.7.1→8.6.0, hello 2.12→2.12.1, …and 6 more"; got != want {
		t.Errorf("budget 100: %q, want %q", got, want)
	}
}

func TestSummarizeChangesOrder(t *testing.T) {
	for _, tc := range []struct {
		changes []nixinfo.Change
		want    string
	}{
		{nil, ""},
		{[]nixinfo.Change{}, ""},
		{[]nixinfo.Change{ch("nano", v("7.2"), nil)}, "-nano"},
		{[]nixinfo.Change{ch("htop", v(), v("3.3.0"))}, "+htop 3.3.0"},
		{[]nixinfo.Change{{Name: "htop", After: v("3.3.0")}}, "+htop 3.3.0"},
		{[]nixinfo.Change{{Name: "etc", After: v("")}}, "+etc"},
		// A kernel added or removed is still first.
		{[]nixinfo.Change{{Name: "a", After: v("1")}, {Name: "linux", Before: v("6.1.90")}, {Name: "linux-libre", After: v("6.1.90-gnu")}},
			"-linux, +linux-libre 6.1.90-gnu, +a 1"},
		// linux-pam and linux-headers are not the kernel.
		{[]nixinfo.Change{{Name: "linux-headers", Before: v("6.6"), After: v("6.7")}, {Name: "linux-pam", Before: v("1.6.0"), After: v("1.6.1")}, {Name: "linux-zen", Before: v("6.8.9-zen1"), After: v("6.8.10-zen1")}},
			"linux-zen 6.8.9-zen1→6.8.10-zen1, linux-headers 6.6→6.7, linux-pam 1.6.0→1.6.1"},
		// Downgrades come before upgrades, each group by name.
		{[]nixinfo.Change{{Name: "a", Before: v("2"), After: v("3")}, {Name: "b", Before: v("2"), After: v("1")}, {Name: "c", Before: v("2"), After: v("2.1")}},
			"↓b 2→1, a 2→3, c 2→2.1"},
		// Several versions on a side.
		{[]nixinfo.Change{{Name: "python3", Before: v("3.11.8", "3.12.2"), After: v("3.11.9", "3.12.3")}},
			"python3 3.11.8/3.12.2→3.11.9/3.12.3"},
		{[]nixinfo.Change{{Name: "p", Before: v("1", "2", "3", "4"), After: v("5")}},
			"p 1/2/3/…→5"},
		// The modules' version only adds a suffix: with the kernel's own
		// version gone, the suffixed one shows.
		{[]nixinfo.Change{{Name: "linux", Before: v("6.6.30-modules"), After: v("6.6.31", "6.6.31-modules")}},
			"linux 6.6.30-modules→6.6.31"},
	} {
		if got := summarizeChanges(tc.changes, 512); got != tc.want {
			t.Errorf("summarizeChanges(%v) = %q, want %q", tc.changes, got, tc.want)
		}
	}
}

func TestSummarizeChangesMany(t *testing.T) {
	var changes []nixinfo.Change
	for i := 0; i < 3000; i++ {
		changes = append(changes, ch(fmt.Sprintf("pkg%04d", i), v("1.0"), v("1.1")))
	}
	got := summarizeChanges(changes, 300)
	if len(got) > 300 || !strings.HasPrefix(got, "pkg0000 1.0→1.1, pkg0001 1.0→1.1") || !strings.HasSuffix(got, " more") {
		t.Errorf("3000 changes in 300 bytes: %q (%d bytes)", got, len(got))
	}
	if got := summarizeChanges(changes, 10); got != "" {
		t.Errorf("budget 10: %q, want empty", got)
	}
	if got := summarizeChanges(changes, 20); got != "3000 package changes" {
		t.Errorf("budget 20: %q", got)
	}
	if got := summarizeChanges(changes[:1], 5); got != "" {
		t.Errorf("budget 5, one change: %q", got)
	}
	if got := summarizeChanges(changes[:1], 16); got != "1 package change" {
		t.Errorf("budget 16, one change: %q", got)
	}
}

func FuzzSummarizeChanges(f *testing.F) {
	f.Add("linux", "6.6.30", "6.6.31", "curl", "8.7.1", "", 60)
	f.Add("α", "1", "é", "β", "", "2", 7)
	f.Fuzz(func(t *testing.T, n1, b1, a1, n2, b2, a2 string, budget int) {
		side := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		changes := []nixinfo.Change{ch(n1, side(b1), side(a1)), ch(n2, side(b2), side(a2))}
		got := summarizeChanges(changes, budget)
		if len(got) > max(budget, 0) {
			t.Fatalf("budget %d: %d bytes: %q", budget, len(got), got)
		}
		// Each input valid on its own: "\xc8" and "\x80" are invalid
		// alone but make a valid rune together.
		allValid := true
		for _, s := range []string{n1, b1, a1, n2, b2, a2} {
			allValid = allValid && utf8.ValidString(s)
		}
		if allValid && !utf8.ValidString(got) {
			t.Fatalf("budget %d: invalid UTF-8 %q", budget, got)
		}
	})
}
