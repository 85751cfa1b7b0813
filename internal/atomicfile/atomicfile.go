// Package atomicfile writes files whole or not at all.
//
// Run as root, what it makes in a directory belongs to that directory's
// owner, from the moment it appears: root running the command by hand on a
// state directory that a service's own user keeps must not leave files that
// user cannot read or replace.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
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
	if err := giveToDirOwner(f); err != nil {
		f.Close()
		return err
	}
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

// Create makes an empty file at path with mode perm unless something is
// there already, which it leaves as it is.
func Create(path string, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = f.Chmod(perm)
	if err == nil {
		err = giveToDirOwner(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A link, unlike a rename, never replaces what another run made.
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Mkdir makes the directory path with mode perm; one there already is an
// fs.ErrExist error, as from os.Mkdir.
func Mkdir(path string, perm os.FileMode) error {
	if err := os.Mkdir(path, perm); err != nil {
		return err
	}
	uid, gid, ok := dirOwner(filepath.Dir(path))
	if !ok {
		return nil
	}
	return os.Lchown(path, uid, gid)
}

// giveToDirOwner gives a file just made to the owner of its directory,
// when root made it in a directory that is someone else's.
func giveToDirOwner(f *os.File) error {
	uid, gid, ok := dirOwner(filepath.Dir(f.Name()))
	if !ok {
		return nil
	}
	return f.Chown(uid, gid)
}

// dirOwner is the owner of dir, when this process is root and dir is
// someone else's.
func dirOwner(dir string) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, false
	}
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix || st.Uid == 0 {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
