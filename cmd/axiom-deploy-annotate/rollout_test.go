package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// TestRolloutFailsBeforeCommand: a rollout whose run cannot begin (here
// the host name cannot be found, with no --hostname) says why on stderr and
// exits with the error's status, without running its command. It used to
// exit 0 and say nothing: the rollout's status was returned and its error
// dropped.
func TestRolloutFailsBeforeCommand(t *testing.T) {
	saved := shortHostname
	shortHostname = func() (string, error) { return "", errors.New("no host name for this machine") }
	t.Cleanup(func() { shortHostname = saved })
	t.Setenv("AXIOM_TOKEN", "")
	marker := filepath.Join(t.TempDir(), "ran")
	var stdout, stderr bytes.Buffer
	code := run([]string{"rollout", "--state-dir", t.TempDir(), "--traces-endpoint", "", "--", "sh", "-c", "touch " + marker}, &stdout, &stderr)
	if code != exitInternal {
		t.Errorf("exit status %d, want %d", code, exitInternal)
	}
	if !strings.Contains(stderr.String(), "axiom-deploy-annotate: no host name for this machine") {
		t.Errorf("stderr does not say why:\n%s", stderr.String())
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command ran: %v", err)
	}
}

// gitCommitAt commits a change in the repository dir (made when missing),
// with a committer date, and returns the commit.
func gitCommitAt(t *testing.T, dir, date string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "GIT_COMMITTER_DATE="+date, "GIT_AUTHOR_DATE=2001-01-01T00:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		git("init", "-q")
	}
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte("# "+date+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "flake.nix")
	git("commit", "-q", "-m", date)
	return git("rev-parse", "HEAD")
}

// TestRolloutCommitTime: a rollout in a git work tree carries the commit
// time git gives for the revision it deploys (HEAD, or --revision), and
// the lead time from it to the rollout's start, on its span; --commit-time
// wins over git.
func TestRolloutCommitTime(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	first := gitCommitAt(t, repo, "2024-05-01T10:00:00Z")
	gitCommitAt(t, repo, "2024-06-01T10:00:00Z")
	t.Chdir(repo)
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		commit time.Time
	}{
		{nil, time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)},
		{[]string{"--revision", first}, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{[]string{"--commit-time", "1700000000"}, time.Unix(1700000000, 0).UTC()},
	}
	for _, c := range cases {
		recv := fakeotlp.New()
		args := append([]string{"rollout", "--state-dir", t.TempDir(), "--hostname", "h", "--api-endpoint", fake.Endpoint(),
			"--token-file", token, "--traces-endpoint", recv.Endpoint(), "--timeout", "10s"}, c.args...)
		var stdout, stderr bytes.Buffer
		before := time.Now()
		if code := run(append(args, "--", "true"), &stdout, &stderr); code != exitOK {
			t.Fatalf("rollout %v: exit %d\n%s", c.args, code, stderr.String())
		}
		after := time.Now()
		recv.Close()
		var span *fakeotlp.Span
		for _, s := range recv.Spans() {
			if s.Name == "rollout" {
				span = &s
			}
		}
		if span == nil {
			t.Fatalf("rollout %v: no rollout span", c.args)
		}
		if got := span.Attr("deploy.commit_time"); got != c.commit.Format(time.RFC3339) {
			t.Errorf("rollout %v: deploy.commit_time %q, want %s", c.args, got, c.commit.Format(time.RFC3339))
		}
		lead := span.Attrs["deploy.lead_time"].GetDoubleValue()
		if low, high := before.Sub(c.commit).Seconds(), after.Sub(c.commit).Seconds(); lead < low || lead > high {
			t.Errorf("rollout %v: deploy.lead_time %v, want between %v and %v", c.args, lead, low, high)
		}
	}
}
