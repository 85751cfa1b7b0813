package snapshot

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// Prune removes the snapshots of systems other than keep, except the
// extra most recently saved, and files a Save that stopped half-way left
// behind. It returns how many it removed. Only a run that no other run
// saves snapshots beside may prune.
func (d *Dir) Prune(keep []string, extra int) (int, error) {
	dir, err := d.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	des, err := dir.ReadDir()
	if err != nil {
		return 0, err
	}
	kept := map[string]bool{}
	for _, s := range keep {
		if name, err := fileName(s); err == nil {
			kept[name] = true
		}
	}
	type snap struct {
		name string
		mod  time.Time
	}
	var others []snap
	var remove []string
	for _, de := range des {
		name := de.Name()
		switch {
		case !de.Type().IsRegular():
		case statedir.IsTemporary(name):
			remove = append(remove, name) // a temporary file of Save
		case strings.HasSuffix(name, ".closure") && !kept[name]:
			fi, err := de.Info()
			if err != nil {
				continue
			}
			others = append(others, snap{name, fi.ModTime()})
		}
	}
	slices.SortFunc(others, func(a, b snap) int { return b.mod.Compare(a.mod) })
	for _, s := range others[min(extra, len(others)):] {
		remove = append(remove, s.name)
	}
	n := 0
	for _, name := range remove {
		if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
