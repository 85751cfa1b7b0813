package nixinfo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// closure is the store paths in a system's closure and their total NAR
// size.
type closure struct {
	paths []string
	size  int64
}

// maxPathInfo bounds what nix path-info may print: a closure of 100,000
// paths takes about 10 MB.
const maxPathInfo = 64 << 20

// pathInfo runs nix path-info with the options opts on the store paths,
// after "--" so that none can be taken for an option, and returns what it
// prints. Its error names the paths and Nix's first line of complaint.
func pathInfo(ctx context.Context, opts []string, paths ...string) ([]byte, error) {
	args := append([]string{"--extra-experimental-features", "nix-command", "path-info"}, opts...)
	out, err := bounded.Output(bounded.Command(ctx, "nix", append(append(args, "--"), paths...)...), maxPathInfo)
	if err != nil {
		var exit *exec.ExitError
		var stderr []byte
		if errors.As(err, &exit) {
			stderr = exit.Stderr
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if msg := firstLine(string(stderr)); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return nil, fmt.Errorf("closure of %s: nix path-info: %w", strings.Join(paths, " and "), err)
	}
	return out, nil
}

// closuresBySize queries the two closures with two `nix path-info
// --recursive --size` side by side, each printing one "PATH SIZE" line per
// path of its closure, a text that is the same in every Nix version. On
// pairs of 3000-path systems (Nix 2.8, 2 cores) it takes 0.7 times as long
// as nix store diff-closures where packages refer to each other and 0.9
// times where they refer to nothing; one `nix path-info --json --recursive`
// of both, walked in Go, took 1.6 and 1.2 times (BenchmarkDiffSystemsNix).
// It is how closures are queried where the Nix daemon cannot be used.
func closuresBySize(ctx context.Context, before, after string) (old, new closure, err error) {
	var (
		wg         sync.WaitGroup
		errB, errA error
	)
	wg.Go(func() { old, errB = closureBySize(ctx, before) })
	wg.Go(func() { new, errA = closureBySize(ctx, after) })
	wg.Wait()
	if err := cmp.Or(errB, errA); err != nil {
		return closure{}, closure{}, err
	}
	return old, new, nil
}

// closureBySize queries one closure with `nix path-info --recursive
// --size`.
func closureBySize(ctx context.Context, path string) (closure, error) {
	out, err := pathInfo(ctx, []string{"--recursive", "--size"}, path)
	if err != nil {
		return closure{}, err
	}
	return parsePathInfo(path, out)
}

// maxClosureSize bounds a closure's size: an exbibyte, four times below
// where a difference of two sizes overflows.
const maxClosureSize = 1 << 60

// parsePathInfo reads the lines of `nix path-info --recursive --size`.
func parsePathInfo(path string, out []byte) (closure, error) {
	var c closure
	c.paths = make([]string, 0, bytes.Count(out, []byte{'\n'}))
	text := string(out)
	for text != "" {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			if line = strings.TrimSpace(line); line != "" {
				return closure{}, fmt.Errorf("closure of %s: unexpected line from nix path-info: %q", path, line)
			}
			continue
		}
		p := line[:i]
		n, err := strconv.ParseInt(strings.TrimSpace(line[i:]), 10, 64)
		// A size is never negative, and the sum stays far from overflow.
		if err != nil || n < 0 || n > maxClosureSize-c.size {
			return closure{}, fmt.Errorf("closure of %s: unexpected line from nix path-info: %q", path, line)
		}
		c.paths = append(c.paths, p)
		c.size += n
	}
	if len(c.paths) == 0 {
		return closure{}, errors.New("closure of " + path + ": nix path-info printed no paths")
	}
	return c, nil
}

// firstLine returns the first non-empty line of s, trimmed, without Nix's
// "error: " prefix and colour codes; a line ending in ":" takes the next one
// along ("don't know how to build these paths: /nix/store/…").
func firstLine(s string) string {
	var out string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(stripANSI(line))
		if line == "" {
			continue
		}
		if out == "" {
			out = strings.TrimPrefix(line, "error: ")
			if !strings.HasSuffix(out, ":") {
				return out
			}
			continue
		}
		return out + " " + line
	}
	return out
}

// stripANSI removes terminal escape sequences (ESC [ … letter).
func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && !isLetter(s[j]) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
