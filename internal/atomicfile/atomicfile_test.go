package atomicfile

import (
	"os"
	"path/filepath"
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
