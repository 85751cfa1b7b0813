package render

import (
	"slices"
	"strconv"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// SummarizeChanges describes package changes on one line of at most budget
// bytes, the most telling first:
//
//	linux 6.6.30→6.6.31, ↓curl 8.7.1→8.6.0, openssl 3.0.13→3.0.14, +htop 3.3.0, -nano, …and 12 more
//
// The kernel comes first, then downgrades (rarer than upgrades, so they are
// not crowded out), then upgrades and other version changes, then packages
// added, then packages removed; within each group, by name. Versions of one
// package are joined by "/", the empty version is "ε", and a version that
// only adds a suffix to another of the same side (the kernel's
// "6.6.30-modules" beside "6.6.30") is left out. When not everything fits,
// the summary ends "…and N more"; when not even one change fits, it is
// "N package changes". No changes give "".
func summarizeChanges(changes []nixinfo.Change, budget int) string {
	if len(changes) == 0 || budget <= 0 {
		return ""
	}
	type item struct {
		rank int
		text string
	}
	items := make([]item, 0, len(changes))
	for _, c := range changes {
		before, after := shownVersions(c.Before), shownVersions(c.After)
		kind := nixinfo.Change{Name: c.Name, Before: before, After: after}.Kind()
		var it item
		switch kind {
		case nixinfo.Added:
			it = item{3, "+" + c.Name}
			if v := joinVersions(after); v != "ε" {
				it.text += " " + v
			}
		case nixinfo.Removed:
			it = item{4, "-" + c.Name}
		case nixinfo.Downgrade:
			it = item{1, "↓" + c.Name + " " + joinVersions(before) + "→" + joinVersions(after)}
		default:
			it = item{2, c.Name + " " + joinVersions(before) + "→" + joinVersions(after)}
		}
		if isKernel(c.Name) {
			it.rank = 0
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.rank - b.rank })

	// rest[i] is the length of items i… joined, each after a ", ".
	rest := make([]int, len(items)+1)
	for i := len(items) - 1; i >= 0; i-- {
		rest[i] = rest[i+1] + len(", ") + len(items[i].text)
	}
	var b strings.Builder
	for i, it := range items {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		need := len(sep) + len(it.text)
		if left := len(items) - i - 1; left > 0 && b.Len()+rest[i]-len(", ")+len(sep) > budget {
			// Not all the rest fits: keep room to say how much is left.
			need += len(", ") + len(more(left))
		}
		if b.Len()+need <= budget {
			b.WriteString(sep)
			b.WriteString(it.text)
			continue
		}
		left := len(items) - i
		if i == 0 {
			s := strconv.Itoa(left) + " package changes"
			if left == 1 {
				s = "1 package change"
			}
			if len(s) > budget {
				return ""
			}
			return s
		}
		// The room for this was kept when the item before was written.
		b.WriteString(", ")
		b.WriteString(more(left))
		break
	}
	return b.String()
}

func more(n int) string { return "…and " + strconv.Itoa(n) + " more" }

// kernelVariants are the names nixpkgs kernels other than plain "linux" may
// carry; "linux-firmware", "linux-headers" and "linux-pam" are not kernels.
var kernelVariants = []string{"libre", "rt", "hardened", "zen", "xanmod", "lqx", "rpi", "asahi", "cachyos"}

// isKernel says whether a package name is a Linux kernel's. NixOS kernels
// are "linux-<version>" (and "linux-<version>-modules"), variants mostly in
// the version ("6.8.9-zen1").
func isKernel(name string) bool {
	if name == "linux" {
		return true
	}
	variant, ok := strings.CutPrefix(name, "linux-")
	return ok && slices.Contains(kernelVariants, variant)
}

// shownVersions leaves out versions that are another version of the list
// followed by "-" and more, keeping the order.
func shownVersions(vs []string) []string {
	if len(vs) < 2 {
		return vs
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		extends := slices.ContainsFunc(vs, func(u string) bool {
			return u != "" && len(v) > len(u)+1 && v[len(u)] == '-' && strings.HasPrefix(v, u)
		})
		if !extends {
			out = append(out, v)
		}
	}
	return out
}

// maxShownVersions is how many versions of one side are listed before "…".
const maxShownVersions = 3

func joinVersions(vs []string) string {
	var b strings.Builder
	for i, v := range vs {
		if i == maxShownVersions {
			b.WriteString("/…")
			break
		}
		if i > 0 {
			b.WriteByte('/')
		}
		if v == "" {
			v = "ε"
		}
		b.WriteString(v)
	}
	return b.String()
}
