package render

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

func intp(n int) *int { return &n }

const rev40 = "0123456789abcdef0123456789abcdef01234567"

func TestTitle(t *testing.T) {
	for _, tc := range []struct {
		g    nixinfo.Generation
		want string
	}{
		{nixinfo.Generation{Hostname: "web1", Number: intp(42), Revision: rev40}, "web1 gen 42 (0123456)"},
		{nixinfo.Generation{Hostname: "web1", Number: intp(42), Revision: rev40, Dirty: true}, "web1 gen 42 (0123456-dirty)"},
		{nixinfo.Generation{Hostname: "web1", Number: intp(42)}, "web1 gen 42"},
		{nixinfo.Generation{Hostname: "web1", Revision: rev40}, "web1 test (0123456)"},
		{nixinfo.Generation{Hostname: "web1", Number: intp(7), Rollback: true, Revision: "abc"}, "web1 rollback to gen 7 (abc)"},
		{nixinfo.Generation{Hostname: "we\nb1", Number: intp(1), Revision: "v1.0\x1b"}, "we b1 gen 1 (v1.0)"},
	} {
		if got := title(&tc.g); got != tc.want {
			t.Errorf("title(%+v) = %q, want %q", tc.g, got, tc.want)
		}
	}
}

func TestCommitURL(t *testing.T) {
	for _, tc := range []struct{ repo, want string }{
		{"https://github.com/me/dots", "https://github.com/me/dots/commit/" + rev40},
		{"https://github.com/me/dots.git/", "https://github.com/me/dots/commit/" + rev40},
		{"github:me/dots", "https://github.com/me/dots/commit/" + rev40},
		{"https://codeberg.org/me/dots", "https://codeberg.org/me/dots/commit/" + rev40},
		{"https://gitea.example.com/me/dots", "https://gitea.example.com/me/dots/commit/" + rev40},
		{"https://gitlab.com/group/sub/dots", "https://gitlab.com/group/sub/dots/-/commit/" + rev40},
		{"gitlab:me/dots", "https://gitlab.com/me/dots/-/commit/" + rev40},
		{"https://git.sr.ht/~me/dots", "https://git.sr.ht/~me/dots/commit/" + rev40},
		{"sourcehut:~me/dots", "https://git.sr.ht/~me/dots/commit/" + rev40},
	} {
		got, err := commitURL(tc.repo, rev40)
		if err != nil || got != tc.want {
			t.Errorf("commitURL(%q) = %q, %v; want %q", tc.repo, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ftp://x/y", "me/dots", "https://user:pw@github.com/me/dots", "https://github.com/me/dots?x=1", "github"} {
		if _, err := commitURL(bad, rev40); err == nil {
			t.Errorf("commitURL(%q) accepted", bad)
		}
	}
}

func TestDeployAnnotation(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	g := &nixinfo.Generation{Hostname: "web1", Number: intp(3), Revision: rev40, Label: "25.11", StorePath: "/nix/store/aaa-nixos-system-web1-25.11", Previous: "/nix/store/bbb-nixos-system-web1-25.05"}
	s := Settings{Datasets: []string{"deployments"}, Type: "nix-deploy", RepositoryURL: "github:me/dots"}
	req := Deploy{Generation: g, Diff: &nixinfo.Diff{Changes: []nixinfo.Change{{Name: "hello", Before: []string{"2.12"}, After: []string{"2.13"}}}, SizeBefore: 1 << 30, SizeAfter: 1<<30 + 5<<20}, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Time: now}.Annotation(s)
	if !req.Time.Equal(now.Truncate(time.Millisecond)) || req.Time.Location() != time.UTC || !req.EndTime.Equal(req.Time) {
		t.Errorf("time %s, endTime %s", req.Time, req.EndTime)
	}
	want := "web1 generation 3, NixOS 25.11.\nCommit: " + rev40 + "\nSystem: /nix/store/aaa-nixos-system-web1-25.11\nClosure: 1.0 GiB (+5.0 MiB)\nPrevious: /nix/store/bbb-nixos-system-web1-25.05\nChanges: hello 2.12→2.13\nTrace: 4bf92f3577b34da6a3ce929d0e0e4736"
	if req.Description != want {
		t.Errorf("description:\n%s\nwant:\n%s", req.Description, want)
	}
	if req.URL != "https://github.com/me/dots/commit/"+rev40 || req.Title != "web1 gen 3 (0123456)" {
		t.Errorf("url %q title %q", req.URL, req.Title)
	}

	// Without a diff the changes are unknown; without a previous system it is
	// the first deploy.
	if d := (Deploy{Generation: g, Time: now}).Annotation(s).Description; !strings.Contains(d, "Changes: unknown") {
		t.Errorf("no diff: %s", d)
	}
	first := *g
	first.Previous = ""
	if d := (Deploy{Generation: &first, Time: now}).Annotation(s).Description; !strings.Contains(d, "Changes: first deploy") {
		t.Errorf("first deploy: %s", d)
	}
	if d := (Deploy{Generation: g, Diff: &nixinfo.Diff{}, Time: now}).Annotation(s).Description; !strings.Contains(d, "Changes: no package changes") {
		t.Errorf("no changes: %s", d)
	}
}

// Many changes and long values still give a description within the limit
// that keeps the commit and the store path and ends the changes "…and N more".
func TestDescriptionLimit(t *testing.T) {
	var changes []nixinfo.Change
	for i := range 500 {
		changes = append(changes, nixinfo.Change{Name: fmt.Sprintf("package-%03d", i), Before: []string{"1.0"}, After: []string{"1.1"}})
	}
	g := &nixinfo.Generation{Hostname: strings.Repeat("h", 300), Number: intp(1), Revision: rev40, Label: strings.Repeat("ü", 300),
		StorePath: "/nix/store/" + strings.Repeat("a", 32) + "-nixos-system", Previous: "/nix/store/" + strings.Repeat("b", 32) + "-nixos-system"}
	req := Deploy{Generation: g, Diff: &nixinfo.Diff{Changes: changes}, TraceID: strings.Repeat("f", 32), Time: time.Now()}.Annotation(Settings{Datasets: []string{"d"}, Type: "t"})
	d := req.Description
	if len(d) > MaxDescription || !utf8.ValidString(d) {
		t.Fatalf("description of %d bytes, valid UTF-8 %v", len(d), utf8.ValidString(d))
	}
	for _, want := range []string{"Commit: " + rev40, "System: " + g.StorePath, "Changes: package-000 1.0→1.1", " more", "Trace: "} {
		if !strings.Contains(d, want) {
			t.Errorf("description lacks %q:\n%s", want, d)
		}
	}
	if len(req.Title) > MaxTitle || !utf8.ValidString(req.Title) {
		t.Errorf("title of %d bytes", len(req.Title))
	}
}

func TestSettingsValidate(t *testing.T) {
	good := Settings{Datasets: []string{"deployments"}, Type: "nix-deploy-2"}
	if err := good.Validate(); err != nil {
		t.Errorf("good settings: %v", err)
	}
	for _, s := range []Settings{
		{Type: "nix-deploy"},
		{Datasets: []string{" "}, Type: "nix-deploy"},
		{Datasets: []string{"d"}, Type: "Nix"},
		{Datasets: []string{"d"}, Type: ""},
		{Datasets: []string{"d"}, Type: "a_b"},
		{Datasets: []string{"d"}, Type: "t", RepositoryURL: "nope"},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 5)
	f.Add("\xff\xfe", 2)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1000 {
			return
		}
		got := text.Truncate(s, max)
		if len(got) > max {
			t.Fatalf("text.Truncate(%q, %d) = %q, longer than %d", s, max, got, max)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("text.Truncate(%q, %d) = %q, not valid UTF-8", s, max, got)
		}
		if len(s) <= max && got != s {
			t.Fatalf("Truncate cut %q though it fits", s)
		}
	})
}

func FuzzClean(f *testing.F) {
	f.Add("a\nb\x1b[31m\xffc")
	f.Fuzz(func(t *testing.T, s string) {
		got := text.Line(s)
		if !utf8.ValidString(got) {
			t.Fatalf("text.Line(%q) = %q, not valid UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("text.Line(%q) = %q keeps control character %U", s, got, r)
			}
		}
	})
}

// FuzzCheckHostname: a host name accepted is one line that the annotation
// keeps as it is, bidirectional and zero-width characters never among it.
func FuzzCheckHostname(f *testing.F) {
	for _, h := range []string{"web-1", "web\u202e1", "web\u200b1", " web", "h\x1b[2J", "ü"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if CheckHostname(h) != nil {
			return
		}
		if !text.IsLine(h) || len(h) > maxField || strings.ContainsAny(h, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\ufeff") {
			t.Fatalf("CheckHostname accepted %q", h)
		}
		n := 1
		if got := Name(&nixinfo.Generation{Hostname: h, Number: &n}); got != h+" gen 1" {
			t.Fatalf("host %q named %q in the title", h, got)
		}
	})
}
