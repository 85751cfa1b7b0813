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
