package nixtest

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Levels of a deep system's closure below its toplevel, and how many paths
// the toplevel refers to.
const (
	deepLevels = 12
	deepRoots  = 36
)

// BuildDeep builds systems made by DeepSystems as BuildBig does: each
// package a store file, referring to the packages the system's Deps give,
// and the toplevel only to its Roots.
func BuildDeep(t testing.TB, systems ...System) []string {
	t.Helper()
	return build(t, "deep.nix", nil, systems)
}

// deepNode is a store path of a deep system.
type deepNode struct {
	pkg   Package
	level int
	deps  []*deepNode
}

// DeepSystems returns two systems of about n store paths each whose
// closures are deep, as NixOS's are: the toplevel refers to a few dozen
// paths (etc, system-path, …), which reach the rest through twelve levels
// of references, each path referring to a few of the level below and one
// further down; every path reaches glibc and the kernel at the bottom.
// Between the two, a few packages a few levels below the top change
// version (upgrades and a downgrade), one path the toplevel refers to is
// removed and one added, so that every path above them is new too: a
// twentieth of the closure. With allNew glibc changes version as well, and
// with it nearly every path. The same n and allNew always give the same
// pair.
func DeepSystems(n int, allNew bool) (before, after System) {
	r := rand.New(rand.NewPCG(uint64(n), 0xdee9))
	g := &bigGen{r: r, used: map[string]bool{}}
	pkgs := g.packages(n)
	bottom := expand(bigCore[:2]) // linux, glibc
	top := expand(bigCore[11:])   // etc, system-path, …
	middle := append(expand(bigCore[2:11]), expand(pkgs[len(bigCore):])...)
	k := deepRoots - len(top)
	top = append(top, middle[len(middle)-k:]...)
	middle = middle[:len(middle)-k]

	levels := make([][]*deepNode, deepLevels)
	for _, p := range bottom {
		levels[0] = append(levels[0], &deepNode{pkg: p})
	}
	per := (len(middle) + deepLevels - 3) / (deepLevels - 2)
	for i, p := range middle {
		l := 1 + i/per
		levels[l] = append(levels[l], &deepNode{pkg: p, level: l})
	}
	for _, p := range top {
		levels[deepLevels-1] = append(levels[deepLevels-1], &deepNode{pkg: p, level: deepLevels - 1})
	}
	glibc := levels[0][3]
	for l := 1; l < deepLevels; l++ {
		for _, x := range levels[l] {
			x.deps = append(x.deps, pick(r, levels[l-1]), pick(r, levels[l-1]))
			if l == 1 {
				x.deps = append(x.deps, glibc)
			} else {
				x.deps = append(x.deps, pick(r, levels[r.IntN(l-1)]))
			}
		}
		// Every path of the level below is referred to.
		for j, y := range levels[l-1] {
			x := levels[l][j%len(levels[l])]
			x.deps = append(x.deps, y)
		}
	}
	for _, x := range slices.Concat(levels...) {
		x.deps = uniq(x.deps)
	}

	before = deepSystem("24.05.20240601.aaaaaaa", levels)
	after = deepSystem("24.05.20240608.bbbbbbb", deepChange(r, g, levels, allNew))
	return before, after
}

// deepChange returns the levels of the system after: a few versions
// changed near the top, a root removed and one added, and, with allNew,
// glibc at another version.
func deepChange(r *rand.Rand, g *bigGen, levels [][]*deepNode, allNew bool) [][]*deepNode {
	bumps := map[*deepNode]int{}
	for _, at := range []struct{ level, by int }{{6, 1}, {7, 1}, {7, 1}, {7, 1}, {8, -1}, {10, 1}} {
		for {
			x := pick(r, levels[at.level])
			if x.pkg.Version != "" && bumps[x] == 0 {
				bumps[x] = at.by
				break
			}
		}
	}
	gone := pick(r, levels[deepLevels-1])
	copies := map[*deepNode]*deepNode{}
	out := make([][]*deepNode, deepLevels)
	for l, level := range levels {
		for _, x := range level {
			if x == gone {
				continue
			}
			y := &deepNode{pkg: x.pkg, level: l}
			switch {
			case bumps[x] != 0:
				y.pkg.Version = bump(y.pkg.Version, bumps[x])
			case allNew && x.pkg.Name == "glibc":
				y.pkg.Version = "2.39-53" + y.pkg.Version[len("2.39-52"):]
			}
			for _, d := range x.deps {
				y.deps = append(y.deps, copies[d])
			}
			copies[x] = y
			out[l] = append(out[l], y)
		}
	}
	added := g.pkg()
	below := out[deepLevels-2]
	out[deepLevels-1] = append(out[deepLevels-1], &deepNode{
		pkg:   Package{Name: added.name, Version: added.version},
		level: deepLevels - 1,
		deps:  uniq([]*deepNode{pick(r, below), pick(r, below)}),
	})
	return out
}

// deepSystem lays out levels as a System: packages bottom up, each one's
// references as indices of packages before it, and the top level as the
// toplevel's.
func deepSystem(label string, levels [][]*deepNode) System {
	s := System{Host: "deep", Label: label, Deps: [][]int{}, Roots: []int{}}
	index := map[*deepNode]int{}
	for l, level := range levels {
		for _, x := range level {
			index[x] = len(s.Packages)
			s.Packages = append(s.Packages, x.pkg)
			deps := make([]int, len(x.deps))
			for i, d := range x.deps {
				deps[i] = index[d]
			}
			s.Deps = append(s.Deps, deps)
			if l == deepLevels-1 {
				s.Roots = append(s.Roots, index[x])
			}
		}
	}
	return s
}

func pick(r *rand.Rand, xs []*deepNode) *deepNode { return xs[r.IntN(len(xs))] }

// uniq drops repeated nodes, keeping the first of each.
func uniq(xs []*deepNode) []*deepNode {
	seen := map[*deepNode]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
