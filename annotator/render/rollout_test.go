package render

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRolloutAnnotation(t *testing.T) {
	start := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	end := start.Add(83*time.Second + 456789*time.Microsecond)
	s := Settings{Datasets: []string{"deployments"}, Type: "nix-rollout", RepositoryURL: "github:me/dots"}
	r := Rollout{
		Command:  []string{"/run/current-system/sw/bin/colmena", "apply", "--on", "@web", "--token=hunter2"},
		Start:    start,
		End:      end,
		Revision: rev40,
		TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	req := r.Annotation(s)
	if !req.Time.Equal(start.Truncate(time.Millisecond)) || req.Time.Location() != time.UTC {
		t.Errorf("time %s, want %s in UTC", req.Time, start.Truncate(time.Millisecond))
	}
	if !req.EndTime.Equal(end.Truncate(time.Millisecond)) || req.EndTime.Location() != time.UTC {
		t.Errorf("endTime %s, want %s in UTC", req.EndTime, end.Truncate(time.Millisecond))
	}
	if req.Title != "rollout 0123456: colmena apply" {
		t.Errorf("title %q", req.Title)
	}
	want := "Command: /run/current-system/sw/bin/colmena apply --on @web --token=***\n" +
		"Duration: 1m23.457s\n" +
		"Exit status: 0\n" +
		"Commit: " + rev40 + "\n" +
		"Trace: 4bf92f3577b34da6a3ce929d0e0e4736"
	if req.Description != want {
		t.Errorf("description:\n%s\nwant:\n%s", req.Description, want)
	}
	if req.URL != "https://github.com/me/dots/commit/"+rev40 {
		t.Errorf("url %q", req.URL)
	}
	if req.Type != "nix-rollout" || len(req.Datasets) != 1 || req.Datasets[0] != "deployments" {
		t.Errorf("type %q datasets %q", req.Type, req.Datasets)
	}
	s.Datasets[0] = "changed"
	if req.Datasets[0] != "deployments" {
		t.Error("the request shares the settings' datasets")
	}
}

func TestRolloutAnnotationOutcomes(t *testing.T) {
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := Settings{Datasets: []string{"d"}, Type: "t", RepositoryURL: "https://gitlab.com/me/dots"}
	for _, tc := range []struct {
		name     string
		r        Rollout
		title    string
		lines    []string
		url      string
		noInDesc string
	}{
		{
			name:  "exit 1",
			r:     Rollout{Command: []string{"colmena", "apply"}, ExitCode: 1, Revision: rev40},
			title: "rollout 0123456: colmena apply failed (exit 1)",
			lines: []string{"Exit status: 1 (failed)", "Commit: " + rev40},
			url:   "https://gitlab.com/me/dots/-/commit/" + rev40,
		},
		{
			name:  "killed",
			r:     Rollout{Command: []string{"deploy", ".#web", "--", "--dry-activate"}, ExitCode: -1, Signal: "SIGTERM", Revision: rev40, Dirty: true},
			title: "rollout 0123456-dirty: deploy .#web failed (SIGTERM)",
			lines: []string{"Exit status: killed by SIGTERM", "Commit: " + rev40 + " (dirty tree)"},
			url:   "https://gitlab.com/me/dots/-/commit/" + rev40,
		},
		{
			name:  "dirty suffix",
			r:     Rollout{Command: []string{"nixos-rebuild", "switch", "--flake", ".#web"}, Revision: rev40 + "-dirty"},
			title: "rollout 0123456-dirty: nixos-rebuild switch",
			lines: []string{"Commit: " + rev40 + " (dirty tree)", "Command: nixos-rebuild switch --flake .#web"},
			url:   "https://gitlab.com/me/dots/-/commit/" + rev40,
		},
		{
			name:     "no revision",
			r:        Rollout{Command: []string{"sh", "-c", "exit 3"}, ExitCode: 3},
			title:    "rollout: sh failed (exit 3)",
			lines:    []string{"Commit: unknown", "Command: sh -c 'exit 3'", "Exit status: 3 (failed)"},
			noInDesc: "Trace:",
		},
		{
			name:  "not a commit",
			r:     Rollout{Command: []string{"./deploy.sh"}, Revision: "v1.2"},
			title: "rollout v1.2: deploy.sh",
			lines: []string{"Commit: v1.2"},
		},
		{
			name:  "no command",
			r:     Rollout{},
			title: "rollout",
			lines: []string{"Command: \n", "Duration: 0s"},
		},
		{
			name:  "secret in the title's words",
			r:     Rollout{Command: []string{"env", "AXIOM_TOKEN=xaat-0123456789abcdef", "colmena", "apply"}},
			title: "rollout: env AXIOM_TOKEN=*** colmena",
			lines: []string{"Command: env AXIOM_TOKEN=*** colmena apply"},
		},
		{
			name:  "control characters",
			r:     Rollout{Command: []string{"co\x1blmena", "ap\nply"}, Signal: "SIG\x00TERM\n"},
			title: "rollout: co lmena failed (SIG TERM)",
			lines: []string{"Command: 'co lmena' 'ap ply'", "Exit status: killed by SIG TERM"},
		},
		{
			name:  "end before start",
			r:     Rollout{Command: []string{"x"}, End: start.Add(-time.Hour)},
			title: "rollout: x",
			lines: []string{"Duration: 0s"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Start = start
			if r.End.IsZero() {
				r.End = start
			}
			req := r.Annotation(s)
			if req.Title != tc.title {
				t.Errorf("title %q, want %q", req.Title, tc.title)
			}
			for _, l := range tc.lines {
				if !strings.Contains(req.Description+"\n", l) {
					t.Errorf("description lacks %q:\n%s", l, req.Description)
				}
			}
			if tc.noInDesc != "" && strings.Contains(req.Description, tc.noInDesc) {
				t.Errorf("description has %q:\n%s", tc.noInDesc, req.Description)
			}
			if req.URL != tc.url {
				t.Errorf("url %q, want %q", req.URL, tc.url)
			}
			if req.EndTime.Before(req.Time) {
				t.Errorf("endTime %s before time %s", req.EndTime, req.Time)
			}
		})
	}
}

// TestRolloutAnnotationLimits: a huge command line is cut to Axiom's limits on a
// UTF-8 boundary, and the failure stays in the title.
func TestRolloutAnnotationLimits(t *testing.T) {
	long := strings.Repeat("é", 300)
	r := Rollout{
		Command:  []string{long, long, long, "--flag", strings.Repeat("ü", 1000)},
		Start:    time.Unix(0, 0),
		End:      time.Unix(10, 0),
		ExitCode: 2,
		Revision: strings.Repeat("r", 200),
		TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	req := r.Annotation(Settings{Datasets: []string{"d"}, Type: "t"})
	if len(req.Title) > MaxTitle || !utf8.ValidString(req.Title) || !strings.HasSuffix(req.Title, " failed (exit 2)") {
		t.Errorf("title (%d bytes): %q", len(req.Title), req.Title)
	}
	if len(req.Description) > MaxDescription || !utf8.ValidString(req.Description) {
		t.Errorf("description (%d bytes): %q", len(req.Description), req.Description)
	}
	for _, l := range []string{"Exit status: 2 (failed)", "Duration: 10s", "Trace: 4bf92f3577b34da6a3ce929d0e0e4736", "Commit: rrr"} {
		if !strings.Contains(req.Description, l) {
			t.Errorf("description lacks %q: %q", l, req.Description)
		}
	}
}
