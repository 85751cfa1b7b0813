package nixinfo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Change is what happened to one package name between two closures: the
// versions only in the closure before and those only in the closure after,
// as nix store diff-closures prints them. An empty version is "".
type Change struct {
	Name   string   `json:"name"`
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// MarshalJSON writes missing versions as [] rather than null.
func (c Change) MarshalJSON() ([]byte, error) {
	type plain Change
	p := plain(c)
	if p.Before == nil {
		p.Before = []string{}
	}
	if p.After == nil {
		p.After = []string{}
	}
	return json.Marshal(p)
}

// ChangeKind is the sort of a Change.
type ChangeKind int

// The kinds of change. Changed is anything that is not one version replaced
// by one other version, or a package added or removed: several versions on a
// side, or two versions that compare equal ("1.0" and "1.00").
const (
	Changed ChangeKind = iota
	Upgrade
	Downgrade
	Added
	Removed
)

func (k ChangeKind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Upgrade:
		return "upgrade"
	case Downgrade:
		return "downgrade"
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// Kind says whether the change is an upgrade, a downgrade (versions ordered
// by CompareVersions), a package added or removed, or something else.
func (c Change) Kind() ChangeKind {
	switch {
	case len(c.Before) == 0 && len(c.After) > 0:
		return Added
	case len(c.Before) > 0 && len(c.After) == 0:
		return Removed
	case len(c.Before) == 1 && len(c.After) == 1:
		switch CompareVersions(c.Before[0], c.After[0]) {
		case -1:
			return Upgrade
		case 1:
			return Downgrade
		}
	}
	return Changed
}

// Diff is the difference between two systems' closures.
type Diff struct {
	// Changes are sorted by name; never nil.
	Changes []Change
	// SizeBefore and SizeAfter are the closures' NAR sizes in bytes, 0 when
	// unknown.
	SizeBefore, SizeAfter int64
}

// SplitName splits a store path's name (without the /nix/store/hash- prefix)
// into a package name and a version the way nix store diff-closures groups
// paths: first a trailing output name is dropped ("-dev", "-bin", any "-"
// followed by lower-case letters only, "-lib32", "-lib64"), then the rest is
// cut at the first "-" that is not followed by a letter, as Nix's
// builtins.parseDrvName does. "openssl-3.0.13-dev" is ("openssl", "3.0.13"),
// "unit-dbus.service" is ("unit-dbus.service", ""), and, as in Nix,
// "hello-unstable" is ("hello", "").
func SplitName(storeName string) (name, version string) {
	return parseDrvName(dropOutput(storeName))
}

// parseDrvName cuts s at the first "-" not followed by a letter.
func parseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isLetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// dropOutput removes what Nix takes for an output name: a last "-" followed
// by lower-case ASCII letters only, or by lib32 or lib64. (Nix matches
// "(.*)-([a-z]+|lib32|lib64)", whose "." takes no line break.)
func dropOutput(s string) string {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || strings.IndexByte(s[:i], '\n') >= 0 || strings.IndexByte(s[:i], '\r') >= 0 {
		return s
	}
	out := s[i+1:]
	if out == "" {
		return s
	}
	if out == "lib32" || out == "lib64" {
		return s[:i]
	}
	for j := 0; j < len(out); j++ {
		if out[j] < 'a' || out[j] > 'z' {
			return s
		}
	}
	return s[:i]
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// CompareVersions compares two versions as Nix's builtins.compareVersions
// does, returning -1, 0 or 1. Both are split into components, each the
// longest run of digits or of other characters, separated by "." and "-".
// Components compare pairwise, a missing one counting as "": two numbers by
// value; "" is below a number; "pre" is below everything else; any other
// string is below a number; two strings compare byte by byte. A run of
// digits too large for a 32-bit int is a string, as in Nix.
func CompareVersions(a, b string) int {
	for a != "" || b != "" {
		var c1, c2 string
		c1, a = nextComponent(a)
		c2, b = nextComponent(b)
		if componentLess(c1, c2) {
			return -1
		}
		if componentLess(c2, c1) {
			return 1
		}
	}
	return 0
}

// nextComponent returns the first component of v and what follows it.
func nextComponent(v string) (component, rest string) {
	i := 0
	for i < len(v) && (v[i] == '.' || v[i] == '-') {
		i++
	}
	j := i
	if j < len(v) && isDigit(v[j]) {
		for j < len(v) && isDigit(v[j]) {
			j++
		}
	} else {
		for j < len(v) && !isDigit(v[j]) && v[j] != '.' && v[j] != '-' {
			j++
		}
	}
	return v[i:j], v[j:]
}

// number returns a component's digits without leading zeros, and whether it
// is a number Nix reads as an int (at most 2147483647).
func number(c string) (string, bool) {
	if c == "" || !isDigit(c[0]) {
		return "", false
	}
	c = strings.TrimLeft(c, "0")
	if len(c) > 10 || len(c) == 10 && c > "2147483647" {
		return "", false
	}
	return c, true
}

func componentLess(c1, c2 string) bool {
	n1, num1 := number(c1)
	n2, num2 := number(c2)
	switch {
	case num1 && num2:
		if len(n1) != len(n2) {
			return len(n1) < len(n2)
		}
		return n1 < n2
	case c1 == "" && num2:
		return true
	case c1 == "pre" && c2 != "pre":
		return true
	case c2 == "pre":
		return false
	case num2:
		return true
	case num1:
		return false
	}
	return c1 < c2
}

// nameOf returns the name of a store path: its base name without the hash.
func nameOf(path string) string {
	const prefix = len("/nix/store/") + 32 // the hash
	if len(path) > prefix && path[prefix] == '-' && strings.HasPrefix(path, "/nix/store/") &&
		strings.IndexByte(path[len("/nix/store/"):prefix], '/') < 0 {
		return path[prefix+1:]
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '-'); i >= 0 {
		path = path[i+1:]
	}
	return path
}

type nameVersion struct{ name, version string }

type sideVersion struct {
	nameVersion
	after bool
}

// versionKey orders versions as nix store diff-closures prints them: byte by
// byte, with the empty version shown (and sorted) as "ε".
func versionKey(v string) string {
	if v == "" {
		return "ε"
	}
	return v
}

// DiffClosures compares two closures, given as store paths, the way nix store
// diff-closures does: paths are grouped by the name SplitName gives, and for
// each name whose set of versions differs, the change lists the versions only
// before and those only after, sorted as Nix prints them. Changes are sorted
// by name. The result is never nil, and neither are a Change's Before and
// After.
func DiffClosures(before, after []string) []Change {
	// A store name without its output stands for its name and version
	// (parseDrvName is one-to-one), and is a part of the path: no copies.
	const inBefore, inAfter = 1, 2
	seen := make(map[string]uint8, len(before)+len(after)/8)
	for _, p := range before {
		seen[dropOutput(nameOf(p))] |= inBefore
	}
	for _, p := range after {
		seen[dropOutput(nameOf(p))] |= inAfter
	}
	var diff []sideVersion
	for s, in := range seen {
		if in != inBefore|inAfter {
			name, version := parseDrvName(s)
			diff = append(diff, sideVersion{nameVersion{name, version}, in == inAfter})
		}
	}
	slices.SortFunc(diff, func(x, y sideVersion) int {
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		if x.after != y.after {
			if y.after {
				return -1
			}
			return 1
		}
		return strings.Compare(versionKey(x.version), versionKey(y.version))
	})

	versions := make([]string, len(diff))
	for i, d := range diff {
		versions[i] = d.version
	}
	changes := make([]Change, 0, countNames(diff))
	for i := 0; i < len(diff); {
		j := i
		for j < len(diff) && diff[j].name == diff[i].name && !diff[j].after {
			j++
		}
		k := j
		for k < len(diff) && diff[k].name == diff[i].name {
			k++
		}
		changes = append(changes, Change{
			Name:   diff[i].name,
			Before: nonNil(versions[i:j:j]),
			After:  nonNil(versions[j:k:k]),
		})
		i = k
	}
	return changes
}

func countNames(diff []sideVersion) int {
	n := 0
	for i := range diff {
		if i == 0 || diff[i].name != diff[i-1].name {
			n++
		}
	}
	return n
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DiffSystems compares the closures of two system store paths (or links to
// them) with Nix and returns the package changes between them and their
// sizes. A first deploy has nothing to compare with: before == "" gives no
// changes.
func DiffSystems(ctx context.Context, before, after string) (*Diff, error) {
	if before == "" {
		return &Diff{Changes: []Change{}}, nil
	}
	var (
		wg       sync.WaitGroup
		old, new closure
	)
	wg.Add(2)
	go func() { defer wg.Done(); old = queryClosure(ctx, before) }()
	go func() { defer wg.Done(); new = queryClosure(ctx, after) }()
	wg.Wait()
	if err := cmp.Or(old.err, new.err); err != nil {
		return nil, err
	}
	return &Diff{
		Changes:    DiffClosures(old.paths, new.paths),
		SizeBefore: old.size,
		SizeAfter:  new.size,
	}, nil
}

type closure struct {
	paths []string
	size  int64
	err   error
}

// queryClosure lists the store paths in the closure of path with their NAR
// sizes: `nix path-info --recursive --size` prints one "PATH SIZE" line per
// path. Measured on two systems of 3000 paths, two of them side by side cost
// about what two `nix-store --query --requisites` do, well under one
// `nix store diff-closures`, and give the sizes besides.
func queryClosure(ctx context.Context, path string) closure {
	if p, err := filepath.EvalSymlinks(path); err == nil && strings.HasPrefix(p, "/nix/store/") {
		path = p
	}
	cmd := exec.CommandContext(ctx, "nix", "--extra-experimental-features", "nix-command",
		"path-info", "--recursive", "--size", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if msg := firstLine(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return closure{err: fmt.Errorf("closure of %s: nix path-info: %w", path, err)}
	}
	return parsePathInfo(path, out)
}

func parsePathInfo(path string, out []byte) closure {
	var c closure
	c.paths = make([]string, 0, bytes.Count(out, []byte{'\n'}))
	text := string(out)
	for text != "" {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			if line = strings.TrimSpace(line); line != "" {
				return closure{err: fmt.Errorf("closure of %s: unexpected line from nix path-info: %q", path, line)}
			}
			continue
		}
		p := line[:i]
		n, err := strconv.ParseInt(strings.TrimSpace(line[i:]), 10, 64)
		if err != nil {
			return closure{err: fmt.Errorf("closure of %s: unexpected line from nix path-info: %q", path, line)}
		}
		c.paths = append(c.paths, p)
		c.size += n
	}
	if len(c.paths) == 0 {
		return closure{err: errors.New("closure of " + path + ": nix path-info printed no paths")}
	}
	return c
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
