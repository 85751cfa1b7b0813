// Package bounded reads what the command does not control, files and the
// output of other programs, within a size and a time: a file linked to
// /dev/zero, a FIFO that nobody writes, a program that prints without end
// or never ends cannot make a run outgrow its memory or its deadline.
package bounded

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// ErrTooLarge is what was larger than the bound.
var ErrTooLarge = errors.New("larger than allowed")

// ErrNotFile is what is neither a regular file nor a pipe: a directory, a
// device, a socket.
var ErrNotFile = errors.New("not a regular file")

// ReadFile reads the file at path, following links, in at most max bytes
// and before deadline (zero: none). It opens without blocking, so that a
// FIFO without a writer reads as empty instead of waiting; only regular
// files and pipes are read. Its errors do not repeat the path: the caller
// names the file.
func ReadFile(path string, max int64, deadline time.Time) ([]byte, error) {
	return readPath(path, max, deadline, true)
}

// ReadRegular is ReadFile for what must be a regular file: a pipe is
// refused too.
func ReadRegular(path string, max int64) ([]byte, error) {
	return readPath(path, max, time.Time{}, false)
}

// Read reads the open file f as ReadFile does.
func Read(f *os.File, max int64, deadline time.Time) ([]byte, error) {
	return read(f, max, deadline, true)
}

func readPath(path string, max int64, deadline time.Time, pipes bool) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, max, deadline, pipes)
}

func read(f *os.File, max int64, deadline time.Time, pipes bool) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := fileKind(fi.Mode(), pipes); err != nil {
		return nil, err
	}
	if !deadline.IsZero() {
		// Regular files cannot wait, and say so: that is no error.
		if err := f.SetReadDeadline(deadline); err != nil && !errors.Is(err, os.ErrNoDeadline) {
			return nil, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errors.New("the pipe's writer sent no end before the deadline")
	case err != nil:
		return nil, err
	case int64(len(b)) > max:
		return nil, tooLarge(max)
	}
	return b, nil
}

func tooLarge(max int64) error { return fmt.Errorf("%w (%d bytes)", ErrTooLarge, max) }

// ReadFS reads name from fsys in at most max bytes, refusing what is not a
// regular file before opening it (an fs.FS opens without O_NONBLOCK).
func ReadFS(fsys fs.FS, name string, max int64) ([]byte, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if err := fileKind(fi.Mode(), false); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, tooLarge(max)
	}
	return b, nil
}

func fileKind(m fs.FileMode, pipes bool) error {
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeNamedPipe != 0 && pipes:
		return nil
	case m.IsDir():
		return fmt.Errorf("%w: a directory", ErrNotFile)
	case m&fs.ModeDevice != 0:
		return fmt.Errorf("%w: a device", ErrNotFile)
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("%w: a pipe", ErrNotFile)
	}
	return ErrNotFile
}
