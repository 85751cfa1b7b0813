package nixinfo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo makes a repository in a new directory, with one committed file
// when commit is true. Git's own configuration on this machine is kept out.
func gitRepo(t *testing.T, commit bool) (dir, head string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	isolateGit(t)
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	if !commit {
		return dir, ""
	}
	write(t, filepath.Join(dir, "flake.nix"), "{ }\n")
	write(t, filepath.Join(dir, "sub", "host.nix"), "{ }\n")
	run("add", ".")
	run("commit", "-q", "-m", "first")
	return dir, run("rev-parse", "HEAD")
}

// isolateGit keeps the machine's git configuration and any repository
// around the temporary directories out of the test.
func isolateGit(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(t.TempDir()))
	for _, v := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGitRevision(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		dirty  bool
	}{
		{"clean", func(*testing.T, string) {}, false},
		{"modified tracked file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "sub", "host.nix"), "{ x = 1; }\n") }, true},
		{"deleted tracked file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "flake.nix")) }, true},
		{"staged new file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "new.nix"), "{ }\n")
			if out, err := exec.Command("git", "-C", dir, "add", "new.nix").CombinedOutput(); err != nil {
				t.Fatalf("git add: %v\n%s", err, out)
			}
		}, true},
		{"untracked file", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "result.nix"), "{ }\n") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, head := gitRepo(t, true)
			tc.change(t, dir)
			// From the top and from a directory inside the work tree.
			for _, d := range []string{dir, filepath.Join(dir, "sub")} {
				rev, dirty, err := GitRevision(context.Background(), d)
				if err != nil || rev != head || dirty != tc.dirty {
					t.Errorf("GitRevision(%s) = %q, %v, %v; want %q, %v", d, rev, dirty, err, head, tc.dirty)
				}
			}
		})
	}
}

func TestGitRevisionNone(t *testing.T) {
	empty, _ := gitRepo(t, false)
	plain := t.TempDir()
	t.Run("no commit", func(t *testing.T) {
		rev, dirty, err := GitRevision(context.Background(), empty)
		if !errors.Is(err, ErrNoRevision) || rev != "" || dirty {
			t.Errorf("= %q, %v, %v; want ErrNoRevision", rev, dirty, err)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		rev, dirty, err := GitRevision(context.Background(), plain)
		if !errors.Is(err, ErrNoRevision) || rev != "" || dirty {
			t.Errorf("= %q, %v, %v; want ErrNoRevision", rev, dirty, err)
		}
	})
	t.Run("no git", func(t *testing.T) {
		dir, _ := gitRepo(t, true)
		t.Setenv("PATH", t.TempDir())
		rev, dirty, err := GitRevision(context.Background(), dir)
		if !errors.Is(err, ErrNoRevision) || rev != "" || dirty {
			t.Errorf("= %q, %v, %v; want ErrNoRevision", rev, dirty, err)
		}
	})
}

// TestGitRevisionFailures: git failing is an error but no ErrNoRevision, so
// that it is not mistaken for a directory without a repository.
func TestGitRevisionFailures(t *testing.T) {
	dir, _ := gitRepo(t, true)
	t.Run("missing directory", func(t *testing.T) {
		_, _, err := GitRevision(context.Background(), filepath.Join(dir, "missing"))
		if err == nil || errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "cannot change to") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := GitRevision(ctx, dir)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoRevision) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
	t.Run("deadline while git runs", func(t *testing.T) {
		// A git that never answers.
		bin := t.TempDir()
		write(t, filepath.Join(bin, "git"), "#!/bin/sh\nexec sleep 600\n")
		if err := os.Chmod(filepath.Join(bin, "git"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _, err := GitRevision(ctx, dir)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestGitCommitTime(t *testing.T) {
	dir, _ := gitRepo(t, false)
	commitAt := func(date, msg string) string {
		t.Helper()
		write(t, filepath.Join(dir, "f"), msg)
		for _, args := range [][]string{{"add", "f"}, {"commit", "-q", "-m", msg}} {
			cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
			cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE="+date, "GIT_AUTHOR_DATE=2001-01-01T00:00:00Z")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	first := commitAt("2024-05-01T10:00:00Z", "first")
	second := commitAt("2024-05-02T12:30:00+02:00", "second")
	ctx := context.Background()
	for rev, want := range map[string]time.Time{
		first:             time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		second + "-dirty": time.Date(2024, 5, 2, 10, 30, 0, 0, time.UTC),
		second[:7]:        time.Date(2024, 5, 2, 10, 30, 0, 0, time.UTC),
		"HEAD":            time.Date(2024, 5, 2, 10, 30, 0, 0, time.UTC),
	} {
		got, err := GitCommitTime(ctx, dir, rev)
		if err != nil || !got.Equal(want) {
			t.Errorf("GitCommitTime(%s) = %v, %v; want the committer time %v", rev, got, err, want)
		}
	}
	if _, err := GitCommitTime(ctx, dir, strings.Repeat("0", 40)); err == nil {
		t.Error("a commit the repository does not hold has a commit time")
	}
}
