package main

import (
	"os"
	"path/filepath"
	"testing"
)

// failingUnits puts on the command's PATH a systemctl that answers as
// systemd 252's does with --plain --no-legend --full: no jobs, the units
// named in the returned file failed (one a line): "UNIT before" failed long
// before any switch, a bare "UNIT" at the moment it is asked about, after
// the switch. The real systemd is nix/systemd_nix_test.go's; this one lets
// a host without it report failed units.
func (h *host) failingUnits() string {
	h.t.Helper()
	dir := h.t.TempDir()
	failed := filepath.Join(dir, "failed")
	script := `#!/bin/sh
for a; do
	case $a in
	list-jobs) exit 0 ;;
	list-units) while read -r u _; do echo "$u loaded failed failed Failing on purpose"; done < ` + failed + `; exit 0 ;;
	show) break ;;
	esac
done
past=
for a; do
	if [ "$past" ]; then
		at=$(date -u '+%a %Y-%m-%d %H:%M:%S.%6N UTC')
		grep -qx "$a before" ` + failed + ` && at='Wed 2020-01-01 00:00:00.000000 UTC'
		printf 'Id=%s\nStateChangeTimestamp=%s\n\n' "$a" "$at"
	fi
	[ "$a" = -- ] && past=1
done
exit 0
`
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(failed, nil, 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.env = append(h.env, "PATH="+dir+":"+os.Getenv("PATH"))
	return failed
}

func setFailed(t *testing.T, file string, units ...string) {
	t.Helper()
	text := ""
	for _, u := range units {
		text += u + "\n"
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
