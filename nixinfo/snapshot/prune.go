package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Prune removes the snapshots of systems other than keep, except the
// extra most recently saved, and files a Save that stopped half-way left
// behind. It returns how many it removed. Only a run that no other run
// saves snapshots beside may prune.
func (d *Dir) Prune(keep []string, extra int) (int, error) {
	des, err := os.ReadDir(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
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
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".closure."):
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
		if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
