// Package atomicfile writes files whole or not at all.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes b to path through a temporary file beside it, synced, then
// renamed into place: a reader, or a run after a crash, sees the old file
// or the new one, never a part. A rename replaces a link rather than
// following it. Durable, it syncs the directory too, so that the new file
// is there after a crash, and changes made one after the other stay in
// that order.
func Write(path string, b []byte, durable bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
