package outbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeStateFile puts a state.json in dir as another machine's, or a hand
// edit, would leave it.
func writeStateFile(t *testing.T, dir string, r Settled) {
	t.Helper()
	b, err := json.Marshal(stateFile{Version: stateVersion, Last: &r})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

const systemOther = "/nix/store/zyxwvutsrqponmlkjihgfedcba987654-nixos-system-other"

// TestStateDirectoryLinksRefused: links inside the state directory are
// refused before anything is written or sent through them.
func TestStateDirectoryLinksRefused(t *testing.T) {
	for _, name := range []string{"lock", "spool.lock", "spool", "state.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(t.TempDir(), "outside")
			if name == "spool" {
				if err := os.Mkdir(outside, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(outside, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, nil)
			if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("got %v, want ErrState naming the link", err)
			}
			if fi, err := os.Stat(outside); name != "spool" && err == nil {
				t.Errorf("a file was made through the link: %v", fi.Name())
			}
			if des, _ := os.ReadDir(outside); len(des) != 0 {
				t.Errorf("files were made through the link: %d", len(des))
			}
		})
	}
}

// TestUnusableStateBeforeSending: a state.json that cannot be replaced is
// found when the state directory is opened, before a run does anything.
func TestUnusableStateBeforeSending(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "state.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, nil)
	if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "state.json is not a regular file") {
		t.Fatalf("got %v, want ErrState about state.json", err)
	}
}

// TestReadOnlyRefusesLinks: a dry run refuses a link inside the state
// directory as a real run does, and reads nothing through it.
func TestReadOnlyRefusesLinks(t *testing.T) {
	for _, name := range []string{"spool", "state.json"} {
		t.Run(name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			src := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
			if name == "spool" {
				o := openOutbox(t, outside, nil)
				if err := o.Add(t.Context(), src, 100); err != nil {
					t.Fatal(err)
				}
			} else {
				writeStateFile(t, outside, Settled{Seq: 1, StorePath: systemOther, Time: deployTime, AnnotationID: "ann_x"})
			}
			if err := os.Symlink(filepath.Join(outside, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			last, pending, err := OpenReadOnly(dir, nil).Latest()
			if err == nil {
				t.Errorf("read through the link %s: %+v, %+v", name, last, pending)
			}
		})
	}
}
