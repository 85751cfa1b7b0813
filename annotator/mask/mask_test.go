package mask

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
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
		got := Args(tc.in)
		if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
			t.Errorf("Args(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestArgsKeepsInput(t *testing.T) {
	in := []string{"--token", "abc"}
	Args(in)
	if in[1] != "abc" {
		t.Errorf("Args changed its input: %q", in)
	}
	if got := Args(nil); len(got) != 0 {
		t.Errorf("Args(nil) = %q", got)
	}
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
