package nixinfo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ in, name, version string }{
		{"hello-2.12", "hello", "2.12"},
		{"hello", "hello", ""},
		{"openssl-3.0.13", "openssl", "3.0.13"},
		{"openssl-3.0.13-dev", "openssl", "3.0.13"},
		{"openssl-3.0.13-bin", "openssl", "3.0.13"},
		{"gcc-13.2.0-lib", "gcc", "13.2.0"},
		{"glibc-2.39-52", "glibc", "2.39-52"},
		{"glibc-2.39-52-bin", "glibc", "2.39-52"},
		{"linux-6.6.30", "linux", "6.6.30"},
		{"linux-6.6.30-modules", "linux", "6.6.30"},
		// Only the last output-like part goes.
		{"linux-6.6.30-modules-shrunk", "linux", "6.6.30-modules"},
		{"apache-httpd-2.0.48", "apache-httpd", "2.0.48"},
		{"915resolution-0.5.2", "915resolution", "0.5.2"},
		{"xf86-video-i810-1.7.4", "xf86-video-i810", "1.7.4"},
		{"name-that-ends-with-dash--1.0", "name-that-ends-with-dash", "-1.0"},
		{"python3.12-requests-2.31.0", "python3.12-requests", "2.31.0"},
		{"perl5.38.2-Try-Tiny-0.31", "perl5.38.2-Try-Tiny", "0.31"},
		{"nixos-system-host-24.05.20240601.abcdef0", "nixos-system-host", "24.05.20240601.abcdef0"},
		{"foo-unstable-2024-05-01", "foo-unstable", "2024-05-01"},
		{"unit-dbus.service", "unit-dbus.service", ""},
		{"X-Restart-Triggers-sshd", "X-Restart-Triggers", ""},
		{"etc", "etc", ""},
		// Nix cannot tell an output from a version suffix: "unstable" goes.
		{"hello-unstable", "hello", ""},
		{"foo-lib32", "foo", ""},
		{"foo-lib64", "foo", ""},
		{"foo-1.0-lib64", "foo", "1.0"},
		{"foo-1.0-Dev", "foo", "1.0-Dev"},
		{"foo-1.0-x86_64", "foo", "1.0-x86_64"},
		// A dash followed by anything but a letter starts the version.
		{"weird-_1.0", "weird", "_1.0"},
		{"weird-+1", "weird", "+1"},
		{"weird--1", "weird", "-1"},
		{"a-", "a-", ""},
		{"-dev", "", ""},
		{"", "", ""},
		{"a\nb-dev", "a\nb-dev", ""},
	} {
		name, version := SplitName(tc.in)
		if name != tc.name || version != tc.version {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.in, name, version, tc.name, tc.version)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// Each row is in increasing order; the cases from Nix's own tests of
	// builtins.compareVersions are among them.
	for _, row := range [][]string{
		{"1.0", "2.3"},
		{"2.1", "2.3"},
		{"2.3", "2.3.1"},
		{"2.3.1", "2.4"},
		{"2.3a", "2.3.1"},
		{"2.3", "2.5", "3.1"},
		{"2.3", "2.13"},
		{"2.3pre1", "2.3"},
		{"2.3pre3", "2.3pre12"},
		{"2.3a", "2.3c"},
		{"2.3pre1", "2.3c"},
		{"2.3pre1", "2.3q"},
		{"", "1"},
		{"a", "1"},
		{"1.0pre1", "1.0"},
		{"3.0.13", "3.0.14", "3.1", "3.10", "10"},
		{"6.6.30", "6.6.30-modules", "6.6.31"},
		{"1.2-pre3", "1.2", "1.2.0.1"},
		{"2024-01-31", "2024-02-01"},
		// Only "pre" is below the end of a version: "rc1" is above it.
		{"1.0", "1.0rc1", "1.0.1"},
		{"5.2p26", "5.2p37"},
		// A run of digits too large for an int is a string, below any
		// number.
		{"1.99999999999", "1.0"},
		{"1.2147483648", "1.0", "1.2147483647"},
	} {
		for i := range row {
			for j := range row {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				if got := CompareVersions(row[i], row[j]); got != want {
					t.Errorf("CompareVersions(%q, %q) = %d, want %d", row[i], row[j], got, want)
				}
			}
		}
	}
	for _, eq := range [][2]string{
		{"1.0", "1.0"},
		{"1.0", "1-0"},
		{"1.01", "1.1"},
		{"1..0", "1.0"},
		{"1.0.", "1.0"},
		{"00000000000000000001", "1"},
		{"", ""},
		{"", "."},
		{"1a", "1.a"},
	} {
		if got := CompareVersions(eq[0], eq[1]); got != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", eq[0], eq[1], got)
		}
	}
}

// compareVersionsRef is a plain transcription of Nix's rules, to check the
// faster CompareVersions against.
func compareVersionsRef(a, b string) int {
	split := func(v string) []string {
		var cs []string
		for v != "" {
			v = strings.TrimLeft(v, ".-")
			if v == "" {
				break
			}
			n := strings.IndexFunc(v, func(r rune) bool {
				if v[0] >= '0' && v[0] <= '9' {
					return r < '0' || r > '9'
				}
				return r >= '0' && r <= '9' || r == '.' || r == '-'
			})
			if n < 0 {
				n = len(v)
			}
			cs = append(cs, v[:n])
			v = v[n:]
		}
		return cs
	}
	less := func(c1, c2 string) bool {
		n1, err1 := strconv.ParseInt(c1, 10, 32)
		n2, err2 := strconv.ParseInt(c2, 10, 32)
		ok1 := err1 == nil && c1[0] != '+' && c1[0] != '-'
		ok2 := err2 == nil && c2[0] != '+' && c2[0] != '-'
		switch {
		case ok1 && ok2:
			return n1 < n2
		case c1 == "" && ok2:
			return true
		case c1 == "pre" && c2 != "pre":
			return true
		case c2 == "pre":
			return false
		case ok2:
			return true
		case ok1:
			return false
		}
		return c1 < c2
	}
	ca, cb := split(a), split(b)
	for i := 0; i < max(len(ca), len(cb)); i++ {
		var c1, c2 string
		if i < len(ca) {
			c1 = ca[i]
		}
		if i < len(cb) {
			c2 = cb[i]
		}
		if less(c1, c2) {
			return -1
		}
		if less(c2, c1) {
			return 1
		}
	}
	return 0
}

func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][2]string{
		{"1.0", "2.3"}, {"2.3pre1", "2.3"}, {"2.3a", "2.3.1"}, {"", "1"},
		{"6.6.30-modules", "6.6.30"}, {"1.2147483648", "1.2147483647"},
		{"007", "7"}, {"pre", ""}, {"1.0-rc1", "1.0rc1"}, {"a.b-c", "a.b.c"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab < -1 || ab > 1 {
			t.Fatalf("CompareVersions(%q, %q) = %d, not -1, 0 or 1", a, b, ab)
		}
		if ab != -ba {
			t.Fatalf("CompareVersions(%q, %q) = %d but CompareVersions(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("CompareVersions(%q, %q) != 0", a, a)
		}
		if ref := compareVersionsRef(a, b); ab != ref {
			t.Fatalf("CompareVersions(%q, %q) = %d, the plain rules give %d", a, b, ab, ref)
		}
	})
}

// outputRE is the regular expression nix store diff-closures strips output
// names with, "(.*)-([a-z]+|lib32|lib64)" matching the whole name, where "."
// is any character but a line break.
var outputRE = regexp.MustCompile(`^([^\n\r]*)-([a-z]+|lib32|lib64)$`)

func FuzzSplitName(f *testing.F) {
	for _, s := range []string{
		"hello-2.12", "openssl-3.0.13-dev", "linux-6.6.30-modules-shrunk", "unit-x.service",
		"hello-unstable", "foo-lib64", "weird-_1", "a-", "-dev", "perl5.38.2-Try-Tiny-0.31",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, version := SplitName(s)
		stripped := s
		if m := outputRE.FindStringSubmatch(s); m != nil {
			stripped = m[1]
		}
		if version == "" {
			if name != stripped {
				t.Fatalf("SplitName(%q) = %q, %q; want the name %q", s, name, version, stripped)
			}
			for i := 0; i+1 < len(name); i++ {
				if name[i] == '-' && !isLetter(name[i+1]) {
					t.Fatalf("SplitName(%q) = %q, %q; the name has a version at %d", s, name, version, i)
				}
			}
			return
		}
		if name+"-"+version != stripped {
			t.Fatalf("SplitName(%q) = %q, %q; they do not make up %q", s, name, version, stripped)
		}
		if isLetter(version[0]) {
			t.Fatalf("SplitName(%q) = %q, %q; the version starts with a letter", s, name, version)
		}
		if i := strings.Index(name, "-"); i >= 0 {
			for ; i+1 < len(name); i++ {
				if name[i] == '-' && !isLetter(name[i+1]) {
					t.Fatalf("SplitName(%q) = %q, %q; the version should start at %d", s, name, version, i)
				}
			}
		}
	})
}

func TestChangeKind(t *testing.T) {
	for _, tc := range []struct {
		c    Change
		want ChangeKind
	}{
		{Change{"openssl", []string{"3.0.13"}, []string{"3.0.14"}}, Upgrade},
		{Change{"curl", []string{"8.7.1"}, []string{"8.6.0"}}, Downgrade},
		{Change{"htop", nil, []string{"3.3.0"}}, Added},
		{Change{"htop", []string{}, []string{""}}, Added},
		{Change{"nano", []string{"7.2"}, []string{}}, Removed},
		{Change{"zlib", []string{""}, []string{"1.3"}}, Upgrade},
		{Change{"python3", []string{"3.11.8", "3.12.2"}, []string{"3.11.9"}}, Changed},
		{Change{"x", []string{"1.0"}, []string{"1.00"}}, Changed},
		{Change{"x", nil, nil}, Changed},
	} {
		if got := tc.c.Kind(); got != tc.want {
			t.Errorf("%+v.Kind() = %v, want %v", tc.c, got, tc.want)
		}
	}
	for k, want := range map[ChangeKind]string{Changed: "changed", Upgrade: "upgrade", Downgrade: "downgrade", Added: "added", Removed: "removed", 9: "ChangeKind(9)"} {
		if k.String() != want {
			t.Errorf("ChangeKind(%d).String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestChangeJSON(t *testing.T) {
	b, err := json.Marshal([]Change{{Name: "htop", After: []string{"3.3.0"}}, {Name: "zlib", Before: []string{""}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"htop","before":[],"after":["3.3.0"]},{"name":"zlib","before":[""],"after":[]}]`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	var back []Change
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[0].Name != "htop" || back[1].Before[0] != "" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

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
	got := DiffClosures(before, after)
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
		t.Errorf("DiffClosures =\n%s\nwant\n%s", showChanges(got), showChanges(want))
	}
	for _, c := range got {
		if c.Before == nil || c.After == nil {
			t.Errorf("%s: nil versions: %#v", c.Name, c)
		}
	}

	if got := DiffClosures(before, before); got == nil || len(got) != 0 {
		t.Errorf("DiffClosures of a closure with itself = %#v, want an empty non-nil list", got)
	}
	if got := DiffClosures(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("DiffClosures(nil, nil) = %#v, want an empty non-nil list", got)
	}
}

func TestDiffClosuresVersionOrder(t *testing.T) {
	// Versions print (and sort) as text, the empty one as "ε", after the
	// others.
	got := DiffClosures(nil, storePaths("p", "p-1.9", "p-1.10", "p-10", "p-1.10-dev", "p-_1"))
	want := []Change{{"p", []string{}, []string{"1.10", "1.9", "10", "_1", ""}}}
	if !equalChanges(got, want) {
		t.Errorf("DiffClosures =\n%s\nwant\n%s", showChanges(got), showChanges(want))
	}
}

// diffClosuresRef is the plain way: per name, sets of versions.
func diffClosuresRef(before, after []string) []Change {
	group := func(paths []string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, p := range paths {
			n, v := SplitName(nameOf(p))
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
		got, want := DiffClosures(before, after), diffClosuresRef(before, after)
		if !equalChanges(got, want) {
			t.Fatalf("before %q\nafter %q\nDiffClosures =\n%s\nwant\n%s", before, after, showChanges(got), showChanges(want))
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

func TestParsePathInfo(t *testing.T) {
	out := "/nix/store/aaa-a-1.0\t  120\n/nix/store/bbb-b    3000\n"
	c := parsePathInfo("/nix/store/x", []byte(out))
	if c.err != nil || !slices.Equal(c.paths, []string{"/nix/store/aaa-a-1.0", "/nix/store/bbb-b"}) || c.size != 3120 {
		t.Errorf("parsePathInfo = %+v", c)
	}
	for _, bad := range []string{"", "\n", "/nix/store/aaa-a\n", "/nix/store/aaa-a  12x\n"} {
		if c := parsePathInfo("/nix/store/x", []byte(bad)); c.err == nil || strings.Contains(c.err.Error(), "\n") {
			t.Errorf("parsePathInfo(%q) error = %v, want a one-line error", bad, c.err)
		}
	}
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

func TestFirstLine(t *testing.T) {
	in := "\n\x1b[31;1merror:\x1b[0m path '\x1b[35;1m/nix/store/x\x1b[0m' is not valid\nmore\n"
	if got, want := firstLine(in), "path '/nix/store/x' is not valid"; got != want {
		t.Errorf("firstLine = %q, want %q", got, want)
	}
	in = "error: don't know how to build these paths:\n  /nix/store/x-missing\n"
	if got, want := firstLine(in), "don't know how to build these paths: /nix/store/x-missing"; got != want {
		t.Errorf("firstLine = %q, want %q", got, want)
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
		DiffClosures(before, after)
	}
	b.ReportMetric(float64(len(before)+len(after)), "paths")
}

func BenchmarkCompareVersions(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		CompareVersions("3.0.13-pre1", "3.0.13rc2")
	}
}
