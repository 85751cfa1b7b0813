package nixinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// ErrNoRevision is why GitRevision finds no revision when that is no fault:
// the directory is in no git work tree, the repository has no commit yet, or
// git is not installed.
var ErrNoRevision = errors.New("no git revision")

var gitCommit = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// GitRevision is the HEAD commit of the git work tree that holds dir, and
// whether the tree differs from it.
//
// Dirty means what it means to a flake: a tracked file changed, staged or
// not. Untracked files are not part of a flake's source, and Nix leaves
// submodules out of its check, so neither makes the tree dirty here.
//
// Errors other than ErrNoRevision are git failing where a revision was
// expected: a repository git refuses to read (another user's, without
// safe.directory), a timeout. Either way there is no revision.
func GitRevision(ctx context.Context, dir string) (rev string, dirty bool, err error) {
	out, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		var exit *exec.ExitError
		switch {
		case errors.Is(err, exec.ErrNotFound):
			return "", false, fmt.Errorf("%w: git is not installed", ErrNoRevision)
		case errors.As(err, &exit) && exit.ExitCode() == 1 && len(exit.Stderr) == 0:
			return "", false, fmt.Errorf("%w: the git repository in %s has no commit yet", ErrNoRevision, dir)
		case errors.As(err, &exit) && bytes.Contains(exit.Stderr, []byte("not a git repository")):
			return "", false, fmt.Errorf("%w: %s is not in a git repository", ErrNoRevision, dir)
		}
		return "", false, fmt.Errorf("git rev-parse HEAD in %s: %w", dir, err)
	}
	rev = strings.TrimSpace(out)
	if !gitCommit.MatchString(rev) {
		return "", false, fmt.Errorf("git rev-parse HEAD in %s: unexpected answer %q", dir, rev)
	}
	status, err := git(ctx, dir, "status", "--porcelain", "--untracked-files=no", "--ignore-submodules=all")
	if errors.Is(err, bounded.ErrTooLarge) {
		return rev, true, nil // more changes than it is worth reading
	}
	if err != nil {
		return "", false, fmt.Errorf("git status in %s: %w", dir, err)
	}
	return rev, status != "", nil
}

// GitCommitTime is the committer time of revision rev (a commit, "-dirty"
// allowed) in the git repository that holds dir.
func GitCommitTime(ctx context.Context, dir, rev string) (time.Time, error) {
	rev = strings.TrimSuffix(rev, "-dirty")
	out, err := git(ctx, dir, "log", "-1", "--format=%ct", rev+"^{commit}", "--")
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s in %s: %w", rev, dir, err)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git log %s in %s: unexpected answer %q", rev, dir, strings.TrimSpace(out))
	}
	return time.Unix(secs, 0).UTC(), nil
}

// maxGitOutput bounds what git may print: a commit id, or the first of
// the changed files.
const maxGitOutput = 1 << 20

// git runs git in dir and returns its output. An *exec.ExitError carries
// git's stderr, and its Error says the first line of it.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := bounded.Command(ctx, "git", append([]string{"-C", dir}, args...)...)
	// Messages in English, to tell "not a git repository" apart; and no
	// index refresh written by status while the user's git may be busy.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_OPTIONAL_LOCKS=0")
	out, err := bounded.Output(cmd, maxGitOutput)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", &gitError{exit}
		}
		return "", err
	}
	return string(out), nil
}

type gitError struct{ *exec.ExitError }

func (e *gitError) Error() string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(e.Stderr)), "\n")
	if line == "" {
		return e.ExitError.Error()
	}
	return line
}

func (e *gitError) Unwrap() error { return e.ExitError }
