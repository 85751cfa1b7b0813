package annotator

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

func TestBuildRollout(t *testing.T) {
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
	req := BuildRollout(r, s)
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

func TestBuildRolloutOutcomes(t *testing.T) {
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
			req := BuildRollout(r, s)
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

// TestBuildRolloutLimits: a huge command line is cut to Axiom's limits on a
// UTF-8 boundary, and the failure stays in the title.
func TestBuildRolloutLimits(t *testing.T) {
	long := strings.Repeat("é", 300)
	r := Rollout{
		Command:  []string{long, long, long, "--flag", strings.Repeat("ü", 1000)},
		Start:    time.Unix(0, 0),
		End:      time.Unix(10, 0),
		ExitCode: 2,
		Revision: strings.Repeat("r", 200),
		TraceID:  "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	req := BuildRollout(r, Settings{Datasets: []string{"d"}, Type: "t"})
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

func TestMaskArgs(t *testing.T) {
	const axiom = "xaat-01234567-89ab-cdef-0123-456789abcdef"
	for _, tc := range []struct {
		in, want []string
	}{
		// Flags, both forms.
		{[]string{"--token=abc", "--token", "abc"}, []string{"--token=***", "--token", "***"}},
		{[]string{"-password", "hunter2", "--api-key=k", "--apiKey", "k", "--AXIOM_TOKEN=x"}, []string{"-password", "***", "--api-key=***", "--apiKey", "***", "--AXIOM_TOKEN=***"}},
		{[]string{"--client-secret", "s", "--auth", "a", "--passwd=p", "--credentials", "c", "--ssh-key", "k"}, []string{"--client-secret", "***", "--auth", "***", "--passwd=***", "--credentials", "***", "--ssh-key", "***"}},
		// Words that only look alike.
		{[]string{"--keep-result", "x", "--author", "me", "--keyboard", "us", "--bypass", "y", "--monkey", "z"}, []string{"--keep-result", "x", "--author", "me", "--keyboard", "us", "--bypass", "y", "--monkey", "z"}},
		// Switches take no value, references to secrets are no secret.
		{[]string{"--no-keys", "switch", "--ask-sudo-password", "boot", "--token", "--verbose"}, []string{"--no-keys", "switch", "--ask-sudo-password", "boot", "--token", "--verbose"}},
		{[]string{"--token-file", "/run/secrets/t", "--password-command=pass show x", "AXIOM_TOKEN_FILE=/run/t"}, []string{"--token-file", "/run/secrets/t", "--password-command=pass show x", "AXIOM_TOKEN_FILE=/run/t"}},
		{[]string{"--token"}, []string{"--token"}},
		// Headers.
		{[]string{"-H", "Authorization: Bearer abc.def", "--header=X-Api-Key: k", "Content-Type: text/plain"}, []string{"-H", "Authorization: ***", "--header=X-Api-Key: ***", "Content-Type: text/plain"}},
		{[]string{"Bearer abcdef"}, []string{"Bearer ***"}},
		// URLs.
		{[]string{"https://user:pa@ss@example.com/x", "ssh://root@host", "--url=https://u:p@h/?access_token=t&x=1"}, []string{"https://user:***@example.com/x", "ssh://root@host", "--url=https://u:***@h/?access_token=***&x=1"}},
		{[]string{"github:me/dots", "git+https://example.com/r?ref=main"}, []string{"github:me/dots", "git+https://example.com/r?ref=main"}},
		// Environment assignments.
		{[]string{"env", "AXIOM_TOKEN=abc", "GITHUB_TOKEN=", "AWS_SECRET_ACCESS_KEY=k", "PWD=/x", "LANG=C"}, []string{"env", "AXIOM_TOKEN=***", "GITHUB_TOKEN=", "AWS_SECRET_ACCESS_KEY=***", "PWD=/x", "LANG=C"}},
		// Known tokens anywhere.
		{[]string{axiom, "x" + axiom, "--flag=" + axiom, "ghp_abcdefghijklmnop0123", "glpat-abcdefghij", "AKIAABCDEFGHIJKLMNOP"}, []string{"xaat-***", "xxaat-***", "--flag=xaat-***", "ghp_***", "glpat-***", "AKIA***"}},
		{[]string{"--option", "access-tokens", "github.com=ghp_abcdefghij", "--argstr", "apiToken", "t", "--arg", "pkgs", "p"}, []string{"--option", "access-tokens", "***", "--argstr", "apiToken", "***", "--arg", "pkgs", "p"}},
		{[]string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"}, []string{"***"}},
		// Scripts.
		{[]string{"sh", "-c", "cd x; AXIOM_TOKEN=abc deploy --password=p1 'https://u:p2@h' && curl -H 'Authorization: token t3' " + axiom}, []string{"sh", "-c", "cd x; AXIOM_TOKEN=*** deploy --password=*** 'https://u:***@h' && curl -H 'Authorization: ***' xaat-***"}},
		// A whole argument that assigns a secret is masked whole: its value
		// may hold spaces.
		{[]string{"PASSPHRASE=correct horse", "TOKEN=a b && c"}, []string{"PASSPHRASE=***", "TOKEN=***"}},
		// A value may start with "-"; only "--…" or a lone "-x" is the
		// next flag.
		{[]string{"--token", "-abc123", "--password", "-", "--api-key", "-v"}, []string{"--token", "***", "--password", "-", "--api-key", "-v"}},
		// user:password, as curl takes it; a user alone, or a user and
		// group id, is kept.
		{[]string{"curl", "-u", "alice:s3cret", "-ubob:pw", "--user=carol:pw", "--user", "dave:pw", "--proxy-user", "e:pw", "-U", "f:pw"},
			[]string{"curl", "-u", "alice:***", "-ubob:***", "--user=carol:***", "--user", "dave:***", "--proxy-user", "e:***", "-U", "f:***"}},
		{[]string{"git", "add", "-u", ".", "docker", "run", "--user", "1000:100", "-p", "8080:80", "--user=alice"}, []string{"git", "add", "-u", ".", "docker", "run", "--user", "1000:100", "-p", "8080:80", "--user=alice"}},
		// -p: a password after mysql, mariadb or sshpass only.
		{[]string{"ssh", "-p", "22", "h", "find", ".", "-prune"}, []string{"ssh", "-p", "22", "h", "find", ".", "-prune"}},
		{[]string{"/usr/bin/mysql", "-uroot", "-pS3cret", "-p", "db"}, []string{"/usr/bin/mysql", "-uroot", "-p***", "-p", "db"}},
		{[]string{"sshpass", "-p", "S3cret", "nixos-rebuild", "switch"}, []string{"sshpass", "-p", "***", "nixos-rebuild", "switch"}},
		{[]string{"sshpass", "-pS3cret", "ssh", "h"}, []string{"sshpass", "-p***", "ssh", "h"}},
		// URL passwords holding "/" or "#", and a token as the URL's user.
		{[]string{"https://u:pa/ss@host/r", "https://u:pa#ss@host/r", "https://u:p?s@host/r"}, []string{"https://u:***@host/r", "https://u:***@host/r", "https://u:***@host/r"}},
		{[]string{"https://0123456789abcdef@github.com/o/r", "git+https://tok@host/r", "ssh://root@host", "git@github.com:o/r"}, []string{"https://***@github.com/o/r", "git+https://***@host/r", "ssh://root@host", "git@github.com:o/r"}},
		// The same in a script.
		{[]string{"sh", "-c", "deploy --token abc123 -v && curl -u bob:pw https://x --user=c:pw; mysql -uroot -pS3cret db; sshpass -p 'S 3' ssh h; curl https://u:p/w@h https://tok@h --token -abc"},
			[]string{"sh", "-c", "deploy --token *** -v && curl -u bob:*** https://x --user=c:***; mysql -uroot -p*** db; sshpass -p *** ssh h; curl https://u:***@h https://***@h --token ***"}},
		{[]string{"sh", "-c", "ssh -p 22 h; find . -prune; deploy --token --verbose; docker run --user 1000:100 x"}, []string{"sh", "-c", "ssh -p 22 h; find . -prune; deploy --token --verbose; docker run --user 1000:100 x"}},
		// Short prefixes alone are no tokens.
		{[]string{"xaat-", "ghp_x", "--", "-5", "-"}, []string{"xaat-", "ghp_x", "--", "-5", "-"}},
	} {
		got := MaskArgs(tc.in)
		if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
			t.Errorf("MaskArgs(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskArgsKeepsInput(t *testing.T) {
	in := []string{"--token", "abc"}
	MaskArgs(in)
	if in[1] != "abc" {
		t.Errorf("MaskArgs changed its input: %q", in)
	}
	if got := MaskArgs(nil); len(got) != 0 {
		t.Errorf("MaskArgs(nil) = %q", got)
	}
}

var axiomToken = regexp.MustCompile(`xaat-[A-Za-z0-9_-]{8,}`)

// secretForms are the places a secret goes in a command line: each a
// template in which "S" stands for the secret (given without "S" in it), and
// what the secret may not hold there.
var secretForms = []struct {
	args   []string
	cannot string
}{
	{[]string{"--token", "S"}, ""},
	{[]string{"--token=S"}, ""},
	{[]string{"--token", "-S"}, ""},
	{[]string{"curl", "-u", "user:S"}, ""},
	{[]string{"curl", "-uuser:S"}, ""},
	{[]string{"curl", "--user=user:S"}, ""},
	// A URL holds no quote but percent-encoded.
	{[]string{"https://user:S@host/x"}, "@'\""},
	{[]string{"https://S@host/x"}, ":/?#@'\""},
	{[]string{"mysql", "-pS"}, ""},
	{[]string{"sudo", "-u", "mysql", "mysql", "-pS"}, ""},
	{[]string{"sshpass", "-p", "S", "ssh", "h"}, ""},
	{[]string{"AXIOM_TOKEN=S"}, ""},
	{[]string{"sh", "-c", "deploy --token S && curl -u user:S https://user:S@h; mysql -pS; sshpass -p S ssh h"}, "@;&|()'\"`$"},
}

// FuzzMaskArgs: masking never panics, keeps the number of arguments, and
// lets no Axiom token through, wherever it sits; nor a secret, whatever it
// holds, in any of the places secretForms name, among any other arguments.
func FuzzMaskArgs(f *testing.F) {
	f.Add("--token\x00abc", "prefix=", "", uint8(0), "s3cr3t-value", uint8(0))
	f.Add("sh\x00-c", "AXIOM_TOKEN=", " && echo", uint8(1), "pa/ss#wo:rd", uint8(6))
	f.Add("https://u:", "", "@host", uint8(2), "0123456789abcdef", uint8(7))
	f.Add("xaat-aaa", "xaat-", "xaat-bbbbbbbb", uint8(3), "S3cret!", uint8(9))
	f.Add("-u\x00--option", "", "", uint8(1), "hunter22", uint8(12))
	f.Add("-u", "", "", uint8(1), "000000", uint8(11))
	f.Fuzz(func(t *testing.T, args, before, after string, at uint8, secret string, form uint8) {
		in := strings.Split(args, "\x00")
		const token = "xaat-01234567-89ab-cdef-0123-456789abcdef"
		i := int(at) % (len(in) + 1)
		withToken := append(slices.Clone(in[:i]), append([]string{before + token + after}, in[i:]...)...)
		out := MaskArgs(withToken)
		if len(out) != len(withToken) {
			t.Fatalf("%d arguments in, %d out", len(withToken), len(out))
		}
		var leaks []string
		for _, a := range withToken {
			leaks = append(leaks, axiomToken.FindAllString(a, -1)...)
		}
		for _, o := range out {
			for _, l := range leaks {
				if strings.Contains(o, l) {
					t.Fatalf("MaskArgs(%q) = %q: %q leaks", withToken, out, l)
				}
			}
		}
		if joined := strings.Join(out, " "); strings.Contains(joined, token) || strings.Contains(shellJoin(out), token) {
			t.Fatalf("MaskArgs(%q) = %q: the token leaks", withToken, out)
		}

		fm := secretForms[int(form)%len(secretForms)]
		template := strings.Join(fm.args, "\x00")
		if len(secret) < 6 || strings.HasPrefix(secret, "-") || strings.ContainsAny(secret, "S \t\n\r\x00"+fm.cannot) || !text.IsLine(secret) ||
			strings.Contains(args, secret) || strings.Contains(template, secret) {
			return
		}
		placed := strings.Split(strings.ReplaceAll(template, "S", secret), "\x00")
		withSecret := append(slices.Clone(in[:i]), append(placed, in[i:]...)...)
		out = MaskArgs(withSecret)
		if joined := strings.Join(out, "\x00"); strings.Contains(joined, secret) || strings.Contains(shellJoin(out), secret) {
			t.Fatalf("MaskArgs(%q) = %q: the secret leaks", withSecret, out)
		}
	})
}

func TestNameWords(t *testing.T) {
	for in, want := range map[string]string{
		"api-key":      "api key",
		"AXIOM_TOKEN":  "axiom token",
		"apiKey":       "api key",
		"APIKey":       "apikey",
		"--auth.token": "auth token",
		"x":            "x",
		"":             "",
	} {
		if got := strings.Join(nameWords(in), " "); got != want {
			t.Errorf("nameWords(%q) = %q, want %q", in, got, want)
		}
	}
}
