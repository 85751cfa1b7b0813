package statedir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is a lock that another process holds.
var ErrLocked = errors.New("another run holds the lock")

// Lock is a held flock on a file of the state directory.
type Lock struct{ f *os.File }

// lockPoll is how often a run waiting for a lock tries again.
const lockPoll = 20 * time.Millisecond

// Shared and Exclusive say how a lock is taken: shared locks exclude only
// an exclusive one.
const (
	Exclusive = false
	Shared    = true
)

// TryLock takes the lock on the file name in d, made if missing, or fails
// at once with ErrLocked.
func (d *Dir) TryLock(name string, shared bool) (*Lock, error) {
	return d.lock(context.Background(), name, shared, false, nil)
}

// Lock takes the lock on the file name in d, made if missing. It tries
// until ctx is done, calling waiting (when not nil) once as it starts to
// wait; then it fails with ErrLocked.
func (d *Dir) Lock(ctx context.Context, name string, shared bool, waiting func()) (*Lock, error) {
	return d.lock(ctx, name, shared, true, waiting)
}

func (d *Dir) lock(ctx context.Context, name string, shared, wait bool, waiting func()) (*Lock, error) {
	f, err := d.OpenFile(name, unix.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := d.create(name); err != nil {
			return nil, err
		}
		f, err = d.OpenFile(name, unix.O_RDWR, 0)
	}
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	var t *time.Ticker
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return &Lock{f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", d.Join(name), err)
		}
		if !wait {
			f.Close()
			return nil, ErrLocked
		}
		if t == nil {
			if waiting != nil {
				waiting()
			}
			t = time.NewTicker(lockPoll)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ErrLocked
		case <-t.C:
		}
	}
}

// Release lets the lock go; a nil lock is none.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// keptToExit holds the files of locks kept until the process exits:
// closing one, or its being collected, would release the lock.
var keptToExit struct {
	sync.Mutex
	files []*os.File
}

// KeepToExit keeps the lock until the process exits, with note in the
// lock file for the next holder to read.
func (l *Lock) KeepToExit(note string) {
	if l.f.Truncate(0) == nil {
		l.f.WriteAt([]byte(note), 0)
	}
	keptToExit.Lock()
	keptToExit.files = append(keptToExit.files, l.f)
	keptToExit.Unlock()
	l.f = nil
}

// Note is what a holder that kept the lock until it exited wrote in the
// lock file; "" when none did.
func (l *Lock) Note() string {
	b, _ := io.ReadAll(io.NewSectionReader(l.f, 0, 256))
	return string(b)
}

// ClearNote empties the lock file.
func (l *Lock) ClearNote() { l.f.Truncate(0) }
