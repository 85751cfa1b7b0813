package nixinfo

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

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

// diffClosures compares two closures, given as store paths, the way nix store
// diff-closures does: paths are grouped by the name splitName gives, and for
// each name whose set of versions differs, the change lists the versions only
// before and those only after, sorted as Nix prints them. Changes are sorted
// by name. The result is never nil, and neither are a Change's Before and
// After.
func diffClosures(before, after []string) []Change {
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
// sizes, as a Closures without snapshots does: through the Nix daemon, or
// nix path-info where it cannot be used. A first deploy has nothing to
// compare with: before == "" gives no changes. Anything but a store path or
// a link to one is an error, and never reaches Nix.
func DiffSystems(ctx context.Context, before, after string) (*Diff, error) {
	return (&Closures{}).Diff(ctx, before, after)
}

// closuresFunc queries the closures of two store paths with nix path-info:
// closuresBySize, what Closures falls back to, and another the benchmark
// measures beside it.
type closuresFunc func(ctx context.Context, before, after string) (old, new closure, err error)

func diffSystems(ctx context.Context, before, after string, query closuresFunc) (*Diff, error) {
	if before == "" {
		return &Diff{Changes: []Change{}}, nil
	}
	before, after, err := resolveSystems(before, after)
	if err != nil {
		return nil, err
	}
	old, new, err := query(ctx, before, after)
	if err != nil {
		return nil, err
	}
	return diffOf(old, new), nil
}

// resolveSystems is the store paths of the systems before and after.
func resolveSystems(before, after string) (string, string, error) {
	before, err := resolveStorePath(before)
	if err != nil {
		return "", "", fmt.Errorf("system before: %w", err)
	}
	after, err = resolveStorePath(after)
	if err != nil {
		return "", "", fmt.Errorf("system after: %w", err)
	}
	return before, after, nil
}

// diffOf is the difference between two closures.
func diffOf(old, new closure) *Diff {
	return &Diff{Changes: diffClosures(old.paths, new.paths), SizeBefore: old.size, SizeAfter: new.size}
}
