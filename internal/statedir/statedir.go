// Package statedir is the one way the command reaches the files of its
// state directory: the directory is opened once, and every file and
// directory in it is opened relative to it without following a symbolic
// link. Whoever can write the state directory can then not make the
// command read, write, send or remove anything elsewhere, through a link
// planted now or under a name added later.
//
// The directory itself may be a link (systemd's DynamicUser makes
// /var/lib/NAME one, to /var/lib/private/NAME): it is the user's choice,
// and is followed.
//
// Temporary files: WriteFile makes one beside the file it writes and
// renames it into place. RemoveTemporary removes every temporary file, so
// it may only be called by a run that excludes every writer, by a lock
// they all take; see Lock.
//
// Owners: run as root, what it makes in a directory that belongs to
// someone else (the NixOS services' user) belongs to that owner
// from the moment it appears, so root running the command by hand leaves
// nothing the service cannot read or replace.
package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// ErrLink is a symbolic link met inside the state directory.
var ErrLink = errors.New("a symbolic link, which the state directory may not hold")

// Dir is an open directory of the state.
type Dir struct {
	f    *os.File
	path string
}

// Open opens the existing directory at path. A missing one is an error
// that matches fs.ErrNotExist.
func Open(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Make makes the directory at path, and its parents, if missing, then
// opens it.
func Make(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, err
	}
	return Open(path)
}

// Path is the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

// Join is the path of name in d, for messages.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, name) }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

func (d *Dir) fd() int { return int(d.f.Fd()) }

// pathError names the file in d, and says so plainly when it is a link.
func (d *Dir) pathError(op, name string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) {
		return fmt.Errorf("%s is %w", d.Join(name), ErrLink)
	}
	return &fs.PathError{Op: op, Path: d.Join(name), Err: err}
}

// Sub opens the directory name in d, making it first when create is set.
// A link there is refused.
func (d *Dir) Sub(name string, create bool) (*Dir, error) {
	if create {
		err := unix.Mkdirat(d.fd(), name, 0o700)
		if uid, gid, ok := d.owner(); err == nil && ok {
			err = unix.Fchownat(d.fd(), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, d.pathError("mkdir", name, err)
		}
	}
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOTDIR) {
		if fi, lerr := d.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			err = unix.ELOOP
		} else {
			return nil, fmt.Errorf("%s is not a directory", d.Join(name))
		}
	}
	if err != nil {
		return nil, d.pathError("open", name, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.Join(name)), path: d.Join(name)}, nil
}

// OpenFile opens name in d with flag (O_NOFOLLOW is added) and checks that
// it is a regular file.
func (d *Dir) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, uint32(perm.Perm()))
	if err != nil {
		return nil, d.pathError("open", name, err)
	}
	f := os.NewFile(uintptr(fd), d.Join(name))
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", d.Join(name))
	}
	return f, nil
}

// ReadFile reads the regular file name in d, of at most max bytes.
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	f, err := d.OpenFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := bounded.Read(f, max, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Join(name), err)
	}
	return b, nil
}

// Lstat describes name in d without following a link.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: d.Join(name), Err: err}
	}
	return fileInfo{name: name, st: st}, nil
}

// CheckFile checks that name in d, if it exists, is a regular file that a
// rename can replace.
func (d *Dir) CheckFile(name string) error {
	fi, err := d.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is %w", d.Join(name), ErrLink)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: remove it", d.Join(name))
	}
	return nil
}

// Writable says whether files can be made in d, without making one: a
// file made to find out is one that another run's housekeeping may take.
func (d *Dir) Writable() error {
	if err := unix.Faccessat(d.fd(), ".", unix.W_OK|unix.X_OK, 0); err != nil {
		return &fs.PathError{Op: "write", Path: d.path, Err: err}
	}
	return nil
}

// ReadDir lists d's entries.
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	fd, err := unix.Openat(d.fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.ReadDir(-1)
}

// Remove removes the file name from d; a link is removed, not followed.
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return nil
}

// Rename renames from to to, both in d.
func (d *Dir) Rename(from, to string) error {
	if err := unix.Renameat(d.fd(), from, d.fd(), to); err != nil {
		return &os.LinkError{Op: "rename", Old: d.Join(from), New: d.Join(to), Err: err}
	}
	return nil
}

// Touch sets the modification time of name in d to now, without
// following a link.
func (d *Dir) Touch(name string) error {
	now := unix.NsecToTimespec(time.Now().UnixNano())
	if err := unix.UtimesNanoAt(d.fd(), name, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "touch", Path: d.Join(name), Err: err}
	}
	return nil
}

// Sync makes d's changes durable.
func (d *Dir) Sync() error { return d.f.Sync() }

// tempPrefix starts the name of every temporary file.
const tempPrefix = "."

// IsTemporary says whether name is one WriteFile makes for a while.
func IsTemporary(name string) bool {
	base, suffix, ok := cutLast(strings.TrimPrefix(name, tempPrefix), ".")
	return strings.HasPrefix(name, tempPrefix) && ok && base != "" && isDigits(suffix)
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// WriteFile writes name in d whole or not at all: through a temporary file
// beside it, synced, then renamed into place, so that a reader, or a run
// after a crash, sees the old file or the new one, never a part. The
// rename replaces a link rather than following it. Durable, it syncs the
// directory too, so that the new file is there after a crash, and changes
// made one after the other stay in that order.
func (d *Dir) WriteFile(name string, b []byte, durable bool) error {
	tmp, f, err := d.createTemp(name)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, name)
	}
	if err != nil {
		_ = d.Remove(tmp)
		return err
	}
	if durable {
		return d.Sync()
	}
	return nil
}

// createTemp makes a temporary file for name, owned as what is made in d
// should be.
func (d *Dir) createTemp(name string) (string, *os.File, error) {
	for range 100 {
		tmp := tempPrefix + name + "." + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Openat(d.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", nil, d.pathError("create", tmp, err)
		}
		if uid, gid, ok := d.owner(); ok {
			if err := unix.Fchown(fd, uid, gid); err != nil {
				unix.Close(fd)
				_ = d.Remove(tmp)
				return "", nil, d.pathError("chown", tmp, err)
			}
		}
		return tmp, os.NewFile(uintptr(fd), d.Join(tmp)), nil
	}
	return "", nil, fmt.Errorf("%s: no free temporary name", d.Join(name))
}

// create makes the empty file name in d (a lock file) unless something is
// there, which it leaves as it is. It runs before any lock is held, so it
// never makes a file RemoveTemporary would take: a run tidying up must not
// remove it half-way. Made by root in someone else's directory, it is
// made under a name of its own, given to the directory's owner and linked
// into place, so that it is never there with another owner.
func (d *Dir) create(name string) error {
	uid, gid, chown := d.owner()
	if !chown {
		fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return d.pathError("create", name, err)
		}
		return unix.Close(fd)
	}
	for range 100 {
		tmp := tempPrefix + name + ".new-" + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Openat(d.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return d.pathError("create", tmp, err)
		}
		err = unix.Fchown(fd, uid, gid)
		unix.Close(fd)
		if err == nil {
			if lerr := unix.Linkat(d.fd(), tmp, d.fd(), name, 0); lerr != nil && !errors.Is(lerr, unix.EEXIST) {
				err = d.pathError("link", name, lerr)
			}
		}
		_ = d.Remove(tmp)
		return err
	}
	return fmt.Errorf("%s: no free temporary name", d.Join(name))
}

// owner is the owner of d, when this process is root and d is someone
// else's: what is made in d is given to it.
func (d *Dir) owner() (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(d.fd(), &st); err != nil || st.Uid == 0 {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// RemoveTemporary removes the temporary files that runs stopped while
// writing left in d, and returns how many. The caller must hold the lock
// that every writer of d holds while writing.
func (d *Dir) RemoveTemporary() int {
	des, err := d.ReadDir()
	if err != nil {
		return 0
	}
	n := 0
	for _, de := range des {
		if de.Type().IsRegular() && IsTemporary(de.Name()) && d.Remove(de.Name()) == nil {
			n++
		}
	}
	return n
}
