package nixinfo

import "strings"

// splitName splits a store path's name (without the /nix/store/hash- prefix)
// into a package name and a version the way nix store diff-closures groups
// paths: first a trailing output name is dropped ("-dev", "-bin", any "-"
// followed by lower-case letters only, "-lib32", "-lib64"), then the rest is
// cut at the first "-" that is not followed by a letter, as Nix's
// builtins.parseDrvName does. "openssl-3.0.13-dev" is ("openssl", "3.0.13"),
// "unit-dbus.service" is ("unit-dbus.service", ""), and, as in Nix,
// "hello-unstable" is ("hello", "").
func splitName(storeName string) (name, version string) {
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

// compareVersions compares two versions as Nix's builtins.compareVersions
// does, returning -1, 0 or 1. Both are split into components, each the
// longest run of digits or of other characters, separated by "." and "-".
// Components compare pairwise, a missing one counting as "": two numbers by
// value; "" is below a number; "pre" is below everything else; any other
// string is below a number; two strings compare byte by byte. A run of
// digits too large for a 32-bit int is a string, as in Nix.
func compareVersions(a, b string) int {
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
