package nixtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BuildBig builds systems as Build does, for systems of thousands of
// packages: each package is a store file (big.nix) referring to a few of the
// packages before it, as a package refers to its dependencies, rather than a
// derivation, which takes seconds instead of most of an hour. It returns the
// systems' store paths in order.
func BuildBig(t testing.TB, systems ...System) []string {
	t.Helper()
	return build(t, "big.nix", nil, systems)
}

// BuildFlat builds systems as BuildBig does, but each package refers to
// nothing: the toplevel alone refers to every package. Such closures are
// the cheapest for Nix to walk.
func BuildFlat(t testing.TB, systems ...System) []string {
	t.Helper()
	return build(t, "big.nix", []string{"--arg", "flat", "true"}, systems)
}

// BigSystems returns two NixOS systems of about n store paths each that look
// like two consecutive deploys of a real machine: packages with several
// outputs (-dev, -lib, -man, …), unversioned paths (unit files, etc),
// python3.12- and perl5.38.2- prefixed names, dated versions, two versions of
// a package side by side, and between the two about 5% of the packages at
// another version (one in five of them older), 1% removed, 1% added and a
// newer kernel. The same n always gives the same pair.
//
// Build them with BuildBig(t, before, after), or BuildFlat for closures
// without references between packages, once per test process.
func BigSystems(n int) (before, after System) {
	r := rand.New(rand.NewPCG(uint64(n), 0x5eed))
	g := &bigGen{r: r, used: map[string]bool{}}
	pkgs := g.packages(n)

	var next []bigPkg
	for i, p := range pkgs {
		switch {
		case p.name == "linux" || p.name == "initrd-linux":
			p.version = "6.6.31"
		case p.name == "python3" && p.version == "3.11.9":
			p.version = "3.11.10"
		case i < len(bigCore) || p.version == "":
		default:
			switch x := r.IntN(100); {
			case x < 1:
				continue // removed
			case x < 5:
				p.version = bump(p.version, 1)
			case x < 6:
				p.version = bump(p.version, -1)
			}
		}
		next = append(next, p)
	}
	for added := 0; added < len(pkgs)/100; added++ {
		next = append(next, g.pkg())
	}

	before = System{Host: "big", Label: "24.05.20240601.aaaaaaa", Packages: expand(pkgs)}
	after = System{Host: "big", Label: "24.05.20240608.bbbbbbb", Packages: expand(next)}
	return before, after
}

// bigCore are the packages every big system starts with.
var bigCore = []bigPkg{
	{name: "linux", version: "6.6.30", outputs: []string{"", "modules", "modules-shrunk"}},
	{name: "glibc", version: "2.39-52", outputs: []string{"", "bin", "dev"}},
	{name: "openssl", version: "3.0.13", outputs: []string{"", "bin", "dev", "man"}},
	{name: "openssl", version: "1.1.1w", outputs: []string{""}},
	{name: "python3", version: "3.11.9", outputs: []string{""}},
	{name: "python3", version: "3.12.3", outputs: []string{""}},
	{name: "systemd", version: "255.4", outputs: []string{"", "dev", "man"}},
	{name: "bash", version: "5.2p26", outputs: []string{"", "man"}},
	{name: "coreutils", version: "9.5", outputs: []string{""}},
	{name: "zlib", version: "1.3.1", outputs: []string{"", "dev"}},
	{name: "gcc", version: "13.2.0", outputs: []string{"", "lib"}},
	{name: "etc", outputs: []string{""}},
	{name: "system-path", outputs: []string{""}},
	{name: "unit-dbus.service", outputs: []string{""}},
	{name: "initrd-linux", version: "6.6.30", outputs: []string{""}},
}

// packages returns the core packages, then random ones, with about n-1
// store paths in all (the toplevel is one more).
func (g *bigGen) packages(n int) []bigPkg {
	for _, p := range bigCore {
		g.used[p.name+"\x00"+p.version] = true
	}
	pkgs := append([]bigPkg(nil), bigCore...)
	paths := 1 // the toplevel
	for _, p := range pkgs {
		paths += len(p.outputs)
	}
	for paths < n {
		p := g.pkg()
		pkgs = append(pkgs, p)
		paths += len(p.outputs)
	}
	return pkgs
}

type bigPkg struct {
	name, version string
	outputs       []string // "" is the default output
}

func expand(pkgs []bigPkg) []Package {
	var out []Package
	for _, p := range pkgs {
		for _, o := range p.outputs {
			switch {
			case o == "":
				out = append(out, Package{Name: p.name, Version: p.version})
			case p.version == "":
				out = append(out, Package{Name: p.name + "-" + o})
			default:
				out = append(out, Package{Name: p.name, Version: p.version + "-" + o})
			}
		}
	}
	return out
}

// bump changes the last number in a version by d, keeping it at 0 or more.
func bump(v string, d int) string {
	end := len(v)
	for end > 0 && (v[end-1] < '0' || v[end-1] > '9') {
		end--
	}
	start := end
	for start > 0 && v[start-1] >= '0' && v[start-1] <= '9' {
		start--
	}
	if start == end {
		return v + ".1"
	}
	var x int
	fmt.Sscanf(v[start:end], "%d", &x)
	if x+d < 0 {
		return v + ".1"
	}
	return v[:start] + fmt.Sprint(x+d) + v[end:]
}

type bigGen struct {
	r    *rand.Rand
	used map[string]bool
}

var syllables = strings.Fields("ba ko ri ne lu tam sor vex gil dra mon pix qua zen fy lo trab nim ost ul ker pa go jin wed rus hel cat mi ox")

func (g *bigGen) word() string {
	var b strings.Builder
	for i, k := 0, 2+g.r.IntN(2); i < k; i++ {
		b.WriteString(syllables[g.r.IntN(len(syllables))])
	}
	return b.String()
}

func (g *bigGen) version() string {
	r := g.r
	switch x := r.IntN(20); {
	case x == 0:
		return fmt.Sprintf("%d%02d%02d", 2020+r.IntN(5), 1+r.IntN(12), 1+r.IntN(28))
	case x == 1:
		return fmt.Sprintf("%d.%drc%d", r.IntN(3), r.IntN(10), 1+r.IntN(3))
	case x == 2:
		return fmt.Sprintf("%d.%d-pre%d", 1+r.IntN(3), r.IntN(10), 1+r.IntN(3))
	case x < 8:
		return fmt.Sprintf("%d.%d", r.IntN(5), r.IntN(30))
	default:
		return fmt.Sprintf("%d.%d.%d", r.IntN(5), r.IntN(30), r.IntN(20))
	}
}

func (g *bigGen) pkg() bigPkg {
	for {
		p := g.try()
		if key := p.name + "\x00" + p.version; !g.used[key] {
			g.used[key] = true
			return p
		}
	}
}

func (g *bigGen) try() bigPkg {
	r := g.r
	one := []string{""}
	switch x := r.IntN(100); {
	case x < 15:
		return bigPkg{name: "python3.12-" + g.word(), version: g.version(), outputs: one}
	case x < 22:
		w := g.word()
		return bigPkg{name: "perl5.38.2-" + strings.ToUpper(w[:1]) + w[1:] + "-" + g.word(), version: g.version(), outputs: one}
	case x < 27:
		return bigPkg{name: "unit-" + g.word() + ".service", outputs: one}
	case x < 30:
		return bigPkg{name: "etc-" + g.word(), outputs: one}
	case x < 33:
		return bigPkg{name: g.word() + "-unstable", version: fmt.Sprintf("2024-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28)), outputs: one}
	case x < 50:
		outs := []string{""}
		for _, o := range []string{"dev", "lib", "man", "bin", "doc"} {
			if r.IntN(3) == 0 {
				outs = append(outs, o)
			}
		}
		return bigPkg{name: "lib" + g.word(), version: g.version(), outputs: outs}
	default:
		return bigPkg{name: g.word(), version: g.version(), outputs: one}
	}
}
