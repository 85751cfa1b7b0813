package nixtest

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Change is one of nix store diff-closures' version lines: a package name,
// the versions only before and those only after ("" for Nix's ε). It reads
// the JSON of the command's changes too.
type Change struct {
	Name   string   `json:"name"`
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// DiffClosures runs nix store diff-closures (set up by setup, e.g. to run
// as another user) and returns its version lines, leaving out the lines
// that only report a size change.
func DiffClosures(t testing.TB, before, after string, setup ...func(*exec.Cmd)) []Change {
	t.Helper()
	cmd := exec.Command("nix", "store", "diff-closures", "--", before, after)
	for _, s := range setup {
		s(cmd)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix store diff-closures: %v\n%s", err, stderr.String())
	}
	changes, err := ParseDiffClosures(string(out))
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// ParseDiffClosures reads the lines "name: OLD → NEW[, SIZE]" of nix store
// diff-closures, where OLD and NEW are versions separated by ", ", "∅" for
// none and "ε" for the empty version.
func ParseDiffClosures(out string) ([]Change, error) {
	versions := func(s string) []string {
		vs := []string{}
		for _, v := range strings.Split(s, ", ") {
			switch {
			case strings.Contains(v, " "):
				return vs // the size change, as "+12.3 KiB"
			case v == "∅":
			case v == "ε":
				vs = append(vs, "")
			default:
				vs = append(vs, v)
			}
		}
		return vs
	}
	changes := []Change{}
	for _, line := range strings.Split(ansi.ReplaceAllString(out, ""), "\n") {
		if line == "" {
			continue
		}
		name, rest, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("nix store diff-closures printed %q", line)
		}
		old, new, ok := strings.Cut(rest, " → ")
		if !ok {
			continue // only a size change
		}
		changes = append(changes, Change{Name: name, Before: versions(old), After: versions(new)})
	}
	return changes, nil
}

// Unique is a tag of lower-case letters no other test uses, to make store
// paths of one's own: a package name carrying it is in no one else's
// closure.
func Unique() string {
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}

// Requisites is the closure of a store path, as nix-store says.
func Requisites(t testing.TB, path string) map[string]bool {
	t.Helper()
	out, err := exec.Command("nix-store", "--query", "--requisites", path).Output()
	if err != nil {
		t.Fatalf("nix-store --query --requisites %s: %v", path, err)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

// Collect deletes a system from the store with the paths that only its
// closure has (not keep's), as garbage collection does once no generation
// refers to it. Only the system's own paths go, so that tests running
// beside it lose nothing: build it from packages named with Unique.
func Collect(t testing.TB, system, keep string) {
	t.Helper()
	kept := Requisites(t, keep)
	var only []string
	for p := range Requisites(t, system) {
		if !kept[p] && p != system {
			only = append(only, p)
		}
	}
	for _, paths := range [][]string{{system}, only} {
		out, err := exec.Command("nix-store", append([]string{"--delete", "--"}, paths...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nix-store --delete: %v\n%s", err, out)
		}
	}
	if exec.Command("nix-store", "--check-validity", system).Run() == nil {
		t.Fatalf("%s is still valid", system)
	}
}
