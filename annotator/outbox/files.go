package outbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// The state directory's names.
const (
	stateName     = "state.json"
	spoolName     = "spool"
	lockName      = "lock"
	spoolLockName = "spool.lock"
	// seqName holds the last sequence number given to an entry.
	seqName = "seq"
)

// maxFile bounds what is read of a state or spool file: an entry is a few
// kilobytes, and a file much larger is not one this program wrote.
const maxFile = 1 << 20

// open opens the state directory, once, through statedir: no link inside
// it is followed. Without create, a missing directory is no error, and
// leaves the outbox closed (ok false); a spool directory that is missing
// leaves o.spool nil. Opening checks what every run needs: no links,
// state.json and the locks files a rename can replace, and, unless the
// outbox only reads, room to write.
func (o *Outbox) open(create bool) (ok bool, err error) {
	if o.root != nil && (o.spool != nil || !create) {
		return true, nil
	}
	if o.root == nil {
		var d *statedir.Dir
		if create {
			d, err = statedir.Make(o.path)
		} else {
			d, err = statedir.Open(o.path)
		}
		if !create && errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%w: %v", ErrState, err)
		}
		o.root = d
	}
	spool, err := o.root.Sub(spoolName, create)
	switch {
	case !create && errors.Is(err, fs.ErrNotExist):
	case err != nil:
		o.closeDirs()
		return false, fmt.Errorf("%w: %v", ErrState, err)
	default:
		o.spool = spool
	}
	if err := o.check(); err != nil {
		o.closeDirs() // checked again by the next use
		return false, fmt.Errorf("%w: %v", ErrState, err)
	}
	return true, nil
}

func (o *Outbox) check() error {
	for _, name := range []string{stateName, lockName, spoolLockName, seqName} {
		if err := o.root.CheckFile(name); err != nil {
			return err
		}
	}
	// A state this run cannot read (another user's) is never "nothing
	// annotated yet".
	if _, err := o.root.ReadFile(stateName, maxFile); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, bounded.ErrTooLarge) {
		return err
	}
	if o.readOnly {
		return nil
	}
	for _, d := range []*statedir.Dir{o.root, o.spool} {
		if d == nil {
			continue
		}
		if err := d.Writable(); err != nil {
			return err
		}
	}
	return nil
}

// closeDirs closes what open opened; the next use opens again.
func (o *Outbox) closeDirs() {
	for _, d := range []*statedir.Dir{o.spool, o.root} {
		if d != nil {
			d.Close()
		}
	}
	o.root, o.spool = nil, nil
}

// writeAtomic writes a file of d whole or not at all, ending it with a
// newline.
func writeAtomic(d *statedir.Dir, name string, b []byte, durable bool) error {
	return d.WriteFile(name, append(b, '\n'), durable)
}

// change runs fn holding the spool lock, the state directory made if
// missing. Holders only read and write a few small files, so the wait is
// short unless a run was stopped while holding it; it ends with ctx, and
// then nothing is changed: the error says so.
func (o *Outbox) change(ctx context.Context, fn func() error) error {
	l, err := o.lockSpool(ctx)
	if err != nil {
		return err
	}
	defer l.Release()
	return fn()
}

// lockSpool takes the spool lock for change, and waits for a run that
// kept it until it exited to be gone (see KeepSpoolLock).
func (o *Outbox) lockSpool(ctx context.Context) (*statedir.Lock, error) {
	if o.readOnly {
		return nil, errors.New("read-only state directory")
	}
	if _, err := o.open(true); err != nil {
		return nil, err
	}
	l, err := o.root.Lock(ctx, spoolLockName, statedir.Exclusive, func() {
		o.log.Info("another run is changing the state directory, waiting for it", "lock", o.root.Join(spoolLockName))
	})
	if errors.Is(err, statedir.ErrLocked) {
		return nil, fmt.Errorf("%w: %s: another run held it until this run's deadline, and nothing was changed", ErrState, o.root.Join(spoolLockName))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	awaitEnded(l, o.log)
	return l, nil
}

// removeTemporary removes what a run that stopped while writing a file left
// behind. Every file of the state is written under the spool lock, and
// this runs under it too, so no file being written is removed.
func (o *Outbox) removeTemporary(ctx context.Context) {
	_ = o.change(ctx, func() error {
		for _, d := range []*statedir.Dir{o.root, o.spool} {
			if n := d.RemoveTemporary(); n > 0 {
				o.log.Debug("temporary files of a stopped run removed", "dir", d.Path(), "files", n)
			}
		}
		return nil
	})
}
