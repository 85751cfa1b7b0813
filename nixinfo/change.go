package nixinfo

import (
	"encoding/json"
	"strconv"
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
// as Nix's builtins.compareVersions orders them), a package added or
// removed, or something else.
func (c Change) Kind() ChangeKind {
	switch {
	case len(c.Before) == 0 && len(c.After) > 0:
		return Added
	case len(c.Before) > 0 && len(c.After) == 0:
		return Removed
	case len(c.Before) == 1 && len(c.After) == 1:
		switch compareVersions(c.Before[0], c.After[0]) {
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
