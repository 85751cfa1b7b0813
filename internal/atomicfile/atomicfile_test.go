package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWrite: the file holds what was written, replaces what was there
// (a link included, which is not followed), and leaves no temporary file.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.json")
	if err := os.Symlink(outside, path); err != nil {
		t.Fatal(err)
	}
	for _, durable := range []bool{false, true} {
		if err := Write(path, []byte("new"), durable); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
			t.Errorf("durable=%v: %q, %v", durable, b, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Errorf("the link's target was written: %q", b)
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("%d files left, want 1", len(des))
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil, true); err == nil {
		t.Error("no error writing into a missing directory")
	}
}

// TestOwnedByDirectoryOwner: what root makes in someone else's directory
// is that someone's, so a service's own user can still read and replace
// it; in root's own directory it stays root's.
func TestOwnedByDirectoryOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 61234, 61235
	for _, c := range []struct {
		name             string
		owned            bool
		wantUID, wantGID int
	}{
		{"another user's directory", true, uid, gid},
		{"root's directory", false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.owned {
				if err := os.Chown(dir, uid, gid); err != nil {
					t.Fatal(err)
				}
			}
			made := map[string]error{
				"written": Write(filepath.Join(dir, "written"), []byte("x"), true),
				"created": Create(filepath.Join(dir, "created"), 0o600),
				"dir":     Mkdir(filepath.Join(dir, "dir"), 0o700),
			}
			for name, err := range made {
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				fi, err := os.Lstat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if int(st.Uid) != c.wantUID || int(st.Gid) != c.wantGID {
					t.Errorf("%s: owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, c.wantUID, c.wantGID)
				}
			}
			if des, _ := os.ReadDir(dir); len(des) != 3 {
				t.Errorf("%d entries, want 3: no temporary file left", len(des))
			}
		})
	}
}

// TestCreateKeepsExisting: Create leaves a file that is there alone, as a
// lock another run holds must stay the same file.
func TestCreateKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, []byte("held"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := Create(path, 0o600); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "held" || !os.SameFile(before, after) {
		t.Errorf("the file was replaced: %q", b)
	}
}
