package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := Write(file, []byte("twelve bytes"), false); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(file, 12); err != nil || string(b) != "twelve bytes" {
		t.Errorf("Read = %q, %v", b, err)
	}
	if _, err := Read(file, 11); err == nil || !strings.Contains(err.Error(), "larger than 11 bytes") {
		t.Errorf("Read of a file over the limit: %v", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(link, 100); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Read through a link: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(fifo, 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a FIFO: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v", err)
	}
}
