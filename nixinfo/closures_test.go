package nixinfo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

func storePaths(names ...string) []string {
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = fmt.Sprintf("/nix/store/%032d-%s", i, n)
	}
	return paths
}

func TestDiffClosures(t *testing.T) {
	before := storePaths(
		"nixos-system-host-24.05.1", "hello-2.12", "curl-8.7.1", "curl-8.7.1-bin", "nano-7.2",
		"python3-3.11.8", "python3-3.12.2", "openssl-1.1.1w", "openssl-3.0.13", "openssl-3.0.13-dev",
		"zlib", "etc", "unit-a.service", "linux-6.6.30", "linux-6.6.30-modules", "same-1.0",
	)
	after := storePaths(
		"nixos-system-host-24.05.2", "hello-2.12.1", "curl-8.6.0", "curl-8.6.0-bin", "htop-3.3.0",
		"python3-3.11.9", "python3-3.12.2", "openssl-3.0.14", "openssl-3.0.14-dev",
		"zlib-1.3", "etc", "unit-b.service", "linux-6.6.31", "linux-6.6.31-modules", "same-1.0", "same-1.0-dev",
	)
	got := diffClosures(before, after)
	want := []Change{
		{"curl", []string{"8.7.1"}, []string{"8.6.0"}},
		{"hello", []string{"2.12"}, []string{"2.12.1"}},
		{"htop", []string{}, []string{"3.3.0"}},
		{"linux", []string{"6.6.30"}, []string{"6.6.31"}},
		{"nano", []string{"7.2"}, []string{}},
		{"nixos-system-host", []string{"24.05.1"}, []string{"24.05.2"}},
		{"openssl", []string{"1.1.1w", "3.0.13"}, []string{"3.0.14"}},
		{"python3", []string{"3.11.8"}, []string{"3.11.9"}},
		{"unit-a.service", []string{""}, []string{}},
		{"unit-b.service", []string{}, []string{""}},
		{"zlib", []string{""}, []string{"1.3"}},
	}
	if !equalChanges(got, want) {
		t.Errorf("diffClosures =\n%s\nwant\n%s", showChanges(got), showChanges(want))
	}
	for _, c := range got {
		if c.Before == nil || c.After == nil {
			t.Errorf("%s: nil versions: %#v", c.Name, c)
		}
	}

	if got := diffClosures(before, before); got == nil || len(got) != 0 {
		t.Errorf("diffClosures of a closure with itself = %#v, want an empty non-nil list", got)
	}
	if got := diffClosures(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("diffClosures(nil, nil) = %#v, want an empty non-nil list", got)
	}
}

func TestDiffClosuresVersionOrder(t *testing.T) {
	// Versions print (and sort) as text, the empty one as "ε", after the
	// others.
	got := diffClosures(nil, storePaths("p", "p-1.9", "p-1.10", "p-10", "p-1.10-dev", "p-_1"))
	want := []Change{{"p", []string{}, []string{"1.10", "1.9", "10", "_1", ""}}}
	if !equalChanges(got, want) {
		t.Errorf("diffClosures =\n%s\nwant\n%s", showChanges(got), showChanges(want))
	}
}

// diffClosuresRef is the plain way: per name, sets of versions.
func diffClosuresRef(before, after []string) []Change {
	group := func(paths []string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, p := range paths {
			n, v := splitName(nameOf(p))
			if m[n] == nil {
				m[n] = map[string]bool{}
			}
			m[n][v] = true
		}
		return m
	}
	b, a := group(before), group(after)
	names := map[string]bool{}
	for n := range b {
		names[n] = true
	}
	for n := range a {
		names[n] = true
	}
	var out []Change
	for _, n := range slices.Sorted(mapsKeys(names)) {
		c := Change{Name: n, Before: []string{}, After: []string{}}
		for v := range b[n] {
			if !a[n][v] {
				c.Before = append(c.Before, v)
			}
		}
		for v := range a[n] {
			if !b[n][v] {
				c.After = append(c.After, v)
			}
		}
		if len(c.Before)+len(c.After) == 0 {
			continue
		}
		byKey := func(x, y string) int { return strings.Compare(versionKey(x), versionKey(y)) }
		slices.SortFunc(c.Before, byKey)
		slices.SortFunc(c.After, byKey)
		out = append(out, c)
	}
	return out
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestDiffClosuresMatchesPlainWay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "a-b", "c-1", "lib", "x-dev"}
	versions := []string{"", "1", "1.0", "2", "1.0-dev", "2-lib64", "pre1", "_x"}
	random := func() []string {
		var ps []string
		for i := r.IntN(12); i > 0; i-- {
			n, v := names[r.IntN(len(names))], versions[r.IntN(len(versions))]
			if v != "" {
				n += "-" + v
			}
			ps = append(ps, n)
		}
		return storePaths(ps...)
	}
	for i := 0; i < 2000; i++ {
		before, after := random(), random()
		got, want := diffClosures(before, after), diffClosuresRef(before, after)
		if !equalChanges(got, want) {
			t.Fatalf("before %q\nafter %q\ndiffClosures =\n%s\nwant\n%s", before, after, showChanges(got), showChanges(want))
		}
	}
}

func equalChanges(a, b []Change) bool {
	return slices.EqualFunc(a, b, func(x, y Change) bool {
		return x.Name == y.Name && slices.Equal(x.Before, y.Before) && slices.Equal(x.After, y.After)
	})
}

func showChanges(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s: %q → %q\n", c.Name, c.Before, c.After)
	}
	return b.String()
}

func TestNameOf(t *testing.T) {
	for in, want := range map[string]string{
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12": "hello-2.12",
		"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a-b-c":      "a-b-c",
		"/other/store/0123456789abcdfghijklmnpqrsvwxyz-hello":    "hello",
		"/nix/store/abc-short":                                   "short",
		"0123456789abcdfghijklmnpqrsvwxyz-hello-2.12":            "hello-2.12",
	} {
		if got := nameOf(in); got != want {
			t.Errorf("nameOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// bigClosures are the store paths of nixtest.BigSystems(n), named as Nix
// would name them, without building anything.
func bigClosures(n int) (before, after []string) {
	b, a := nixtest.BigSystems(n)
	paths := func(s nixtest.System) []string {
		out := []string{fmt.Sprintf("/nix/store/%032x-nixos-system-%s-%s", 0, s.Host, s.Label)}
		for i, p := range s.Packages {
			name := p.Name
			if p.Version != "" {
				name += "-" + p.Version
			}
			out = append(out, fmt.Sprintf("/nix/store/%032x-%s", i+1, name))
		}
		return out
	}
	return paths(b), paths(a)
}

func BenchmarkDiffClosures(b *testing.B) {
	before, after := bigClosures(bigPaths)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		diffClosures(before, after)
	}
	b.ReportMetric(float64(len(before)+len(after)), "paths")
}
