package nixinfo

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
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
		name, version := splitName(tc.in)
		if name != tc.name || version != tc.version {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", tc.in, name, version, tc.name, tc.version)
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
				if got := compareVersions(row[i], row[j]); got != want {
					t.Errorf("compareVersions(%q, %q) = %d, want %d", row[i], row[j], got, want)
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
		if got := compareVersions(eq[0], eq[1]); got != 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want 0", eq[0], eq[1], got)
		}
	}
}

// compareVersionsRef is a plain transcription of Nix's rules, to check the
// faster compareVersions against.
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
		ab, ba := compareVersions(a, b), compareVersions(b, a)
		if ab < -1 || ab > 1 {
			t.Fatalf("compareVersions(%q, %q) = %d, not -1, 0 or 1", a, b, ab)
		}
		if ab != -ba {
			t.Fatalf("compareVersions(%q, %q) = %d but compareVersions(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if compareVersions(a, a) != 0 {
			t.Fatalf("compareVersions(%q, %q) != 0", a, a)
		}
		if ref := compareVersionsRef(a, b); ab != ref {
			t.Fatalf("compareVersions(%q, %q) = %d, the plain rules give %d", a, b, ab, ref)
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
		name, version := splitName(s)
		stripped := s
		if m := outputRE.FindStringSubmatch(s); m != nil {
			stripped = m[1]
		}
		if version == "" {
			if name != stripped {
				t.Fatalf("splitName(%q) = %q, %q; want the name %q", s, name, version, stripped)
			}
			for i := 0; i+1 < len(name); i++ {
				if name[i] == '-' && !isLetter(name[i+1]) {
					t.Fatalf("splitName(%q) = %q, %q; the name has a version at %d", s, name, version, i)
				}
			}
			return
		}
		if name+"-"+version != stripped {
			t.Fatalf("splitName(%q) = %q, %q; they do not make up %q", s, name, version, stripped)
		}
		if isLetter(version[0]) {
			t.Fatalf("splitName(%q) = %q, %q; the version starts with a letter", s, name, version)
		}
		if i := strings.Index(name, "-"); i >= 0 {
			for ; i+1 < len(name); i++ {
				if name[i] == '-' && !isLetter(name[i+1]) {
					t.Fatalf("splitName(%q) = %q, %q; the version should start at %d", s, name, version, i)
				}
			}
		}
	})
}

func BenchmarkCompareVersions(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		compareVersions("3.0.13-pre1", "3.0.13rc2")
	}
}
