package annotator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/atomicfile"
)

// maxFile bounds what is read of a state or spool file: an entry is a few
// kilobytes, and a file much larger is not one this program wrote.
const maxFile = 1 << 20

var errTooLarge = fmt.Errorf("larger than %d bytes", maxFile)

// readSmall reads a regular file of at most maxFile bytes, refusing a
// symbolic link: whoever can write the state directory must not make the
// command read or write elsewhere.
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, linkError(path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, errTooLarge
	}
	return b, nil
}

// linkError says so when opening with O_NOFOLLOW met a symbolic link.
func linkError(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%s is a symbolic link, which the state directory may not hold", path)
	}
	return err
}

// writeAtomic writes a file whole or not at all, ending it with a newline.
func writeAtomic(path string, b []byte, durable bool) error {
	return atomicfile.Write(path, append(b, '\n'), durable)
}

// isTemporary says whether a name is one writeAtomic makes.
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".json.")
}

// realDir makes dir if it is missing and checks that it is a directory and
// no symbolic link.
func realDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which the state directory may not hold", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// regularOrAbsent checks that path, if it exists, is a regular file that a
// rename can replace.
func regularOrAbsent(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which the state directory may not hold", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: remove it", path)
	}
	return nil
}

// writable checks that files can be made in dir, before anything is sent
// that the state would then have to record.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe.json.*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// lockFile is a file whose flock is held.
type lockFile struct{ f *os.File }

// openLock opens (or makes) a lock file, refusing a link.
func openLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.Create(path, 0o600); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, linkError(path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// lockPoll is how often a run waiting for a lock tries again.
const lockPoll = 20 * time.Millisecond

// acquire takes the lock at path. Without wait it fails at once with
// errBusy when another process holds it; with wait it tries until ctx is
// done, logging once that it waits.
func acquire(ctx context.Context, path string, wait bool, log *slog.Logger) (*lockFile, error) {
	f, err := openLock(path)
	if err != nil {
		return nil, err
	}
	var t *time.Ticker
	for try := 0; ; try++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if t != nil {
				t.Stop()
			}
			return &lockFile{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			f.Close()
			return nil, errBusy
		}
		if try == 0 {
			log.Info("another run holds the state directory, waiting for it", "lock", path)
			t = time.NewTicker(lockPoll)
		}
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, errBusy
		case <-t.C:
		}
	}
}

func (l *lockFile) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

var errBusy = errors.New("another run holds the lock")
