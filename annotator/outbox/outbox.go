// Package outbox is the state directory that makes sure each deploy is
// told once: the spool of deploys yet to be delivered, each entry holding
// its deploy and, once rendered, its annotation, in the project's own
// format; the state, what was settled last; the sequence numbers that
// order them; the locks that let runs share it; and files written whole or
// not at all. It knows nothing of where annotations go.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// ErrBusy is returned when another run is delivering the spool and this one
// was told not to wait, or its deadline came first. What this run recorded
// stays spooled: the other run, or the next, delivers it.
var ErrBusy = errors.New("another run is delivering the spool")

// ErrState is the class of errors that make the state directory unusable.
var ErrState = errors.New("state directory unusable")

// Outbox is the state directory: state.json, what was settled last;
// spool/, what is yet to be delivered; seq, the last sequence number
// given; two locks. "spool.lock" is held while files change, and by a
// delivering run from its last look at the spool until it exits
// (HoldSpool), so that recording a deploy waits for no more than a file
// write or the end of that run; "lock" is held by the run delivering the
// spool, for as long as that takes. Every
// file in it is reached through statedir, which follows no link.
type Outbox struct {
	path string
	log  *slog.Logger
	// readOnly outboxes, for dry runs, change nothing on disk.
	readOnly bool
	// root and spool are the open directories, nil until opened.
	root, spool *statedir.Dir
	delivery    *statedir.Lock
	// warnedSeq says that a sequence number not given here was reported.
	warnedSeq bool
}

// OpenReadOnly opens the state directory to read only, without locks: what
// it reads may be changing, which a dry run can accept. It refuses links
// inside the directory as a real run does, and makes nothing.
func OpenReadOnly(dir string, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{path: dir, log: log, readOnly: true}
}

// Open opens the state directory and, when it exists, checks that it can
// be used: no symbolic links inside it, state.json a file that can be
// replaced, room to write. A missing one is made when something is first
// written to it, so that a run that ends before that (not a NixOS system,
// an unknown id to drop) leaves nothing behind. Every error wraps
// ErrState.
func Open(dir string, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{path: dir, log: log}
	ok, err := o.open(false)
	if err == nil && ok {
		_, err = o.open(true)
	}
	if err != nil {
		o.closeDirs()
		return nil, err
	}
	return o, nil
}

// Exists says whether the state directory is there: without it nothing
// was ever recorded, and nothing is to be delivered.
func (o *Outbox) Exists() (bool, error) { return o.open(false) }

// LockDelivery takes the delivery lock, waiting for another run until ctx
// is done when wait is set. It returns ErrBusy when another run keeps it.
func (o *Outbox) LockDelivery(ctx context.Context, wait bool) error {
	if _, err := o.open(true); err != nil {
		return err
	}
	var l *statedir.Lock
	var err error
	if wait {
		l, err = o.root.Lock(ctx, lockName, statedir.Exclusive, func() {
			o.log.Info("another run holds the state directory, waiting for it", "lock", o.root.Join(lockName))
		})
	} else {
		l, err = o.root.TryLock(lockName, statedir.Exclusive)
	}
	if errors.Is(err, statedir.ErrLocked) {
		return ErrBusy
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	o.delivery = l
	o.removeTemporary(ctx)
	return nil
}

// UnlockDelivery releases the delivery lock, if held.
func (o *Outbox) UnlockDelivery() {
	o.delivery.Release()
	o.delivery = nil
}

// Close releases the delivery lock, if held, and closes the directory; an
// outbox used again opens it again.
func (o *Outbox) Close() error {
	o.UnlockDelivery()
	o.closeDirs()
	return nil
}
