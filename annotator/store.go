package annotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// ErrBusy is returned when another run is delivering the spool and this one
// was told not to wait, or its deadline came first. What this run recorded
// stays spooled: the other run, or the next, delivers it.
var ErrBusy = errors.New("another run is delivering the spool")

// ErrState is the class of errors that make the state directory unusable.
var ErrState = errors.New("state directory unusable")

// Store is the state directory: state.json, what was annotated last;
// spool/, what is yet to be delivered; seq, the last sequence number
// given; two locks. "spool.lock" is held only while files change, so that
// recording a deploy never waits for more than a file write; "lock" is
// held by the run delivering the spool, for as long as that takes. Every
// file in it is reached through statedir, which follows no link.
type Store struct {
	path string
	log  *slog.Logger
	// readOnly stores, for dry runs, change nothing on disk.
	readOnly bool
	// root and spool are the open directories, nil until opened.
	root, spool *statedir.Dir
	delivery    *statedir.Lock
	// warnedSeq says that a sequence number not given here was reported.
	warnedSeq bool
}

// ReadStore opens the state directory to read only, without locks: what
// it reads may be changing, which a dry run can accept. It refuses links
// inside the directory as a real run does, and makes nothing.
func ReadStore(dir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{path: dir, log: log, readOnly: true}
}

// OpenStore opens the state directory and, when it exists, checks that it
// can be used: no symbolic links inside it, state.json a file that can be
// replaced, room to write. A missing one is made when something is first
// written to it, so that a run that ends before that (not a NixOS system,
// an unknown id to drop) leaves nothing behind. Every error wraps
// ErrState.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: dir, log: log}
	ok, err := s.open(false)
	if err == nil && ok {
		_, err = s.open(true)
	}
	if err != nil {
		s.closeDirs()
		return nil, err
	}
	return s, nil
}

// LockDelivery takes the delivery lock, waiting for another run until ctx
// is done when wait is set. It returns ErrBusy when another run keeps it.
func (s *Store) LockDelivery(ctx context.Context, wait bool) error {
	if _, err := s.open(true); err != nil {
		return err
	}
	var l *statedir.Lock
	var err error
	if wait {
		l, err = s.root.Lock(ctx, lockName, statedir.Exclusive, func() {
			s.log.Info("another run holds the state directory, waiting for it", "lock", s.root.Join(lockName))
		})
	} else {
		l, err = s.root.TryLock(lockName, statedir.Exclusive)
	}
	if errors.Is(err, statedir.ErrLocked) {
		return ErrBusy
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	s.delivery = l
	s.removeTemporary(ctx)
	return nil
}

// unlockDelivery releases the delivery lock, if held.
func (s *Store) unlockDelivery() {
	s.delivery.Release()
	s.delivery = nil
}

// Close releases the delivery lock, if held, and closes the directory; a
// store used again opens it again.
func (s *Store) Close() error {
	s.unlockDelivery()
	s.closeDirs()
	return nil
}

// Why a deploy recorded last has no annotation (Record.NotAnnotated).
const (
	NotAnnotatedOff     = "annotations were off"
	NotAnnotatedDropped = "dropped"
)

// Record is the deploy settled last: annotated, or done with without an
// annotation, and then NotAnnotated says why.
type Record struct {
	// Seq orders deploys as they were recorded, whatever the clocks said.
	Seq          uint64    `json:"seq,omitempty"`
	StorePath    string    `json:"storePath"`
	Generation   *int      `json:"generation"`
	Time         time.Time `json:"time"`
	AnnotationID string    `json:"annotationId"`
	Title        string    `json:"title"`
	NotAnnotated string    `json:"notAnnotated,omitempty"`
}

type stateFile struct {
	Version int     `json:"version"`
	Last    *Record `json:"last"`
}

const stateVersion = 1

// parseState reads state.json.
func parseState(b []byte) (*Record, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("unknown version %d", st.Version)
	}
	if st.Last != nil && st.Last.StorePath == "" {
		return nil, errors.New("no store path in the last record")
	}
	return st.Last, nil
}

// LastAnnotated is what was annotated last, nil when nothing was. A corrupt
// state file is set aside with a warning and counts as nothing. One that
// cannot be read (another user's, say) makes the state directory unusable:
// taken for nothing annotated, it would have the running system annotated
// again.
func (s *Store) LastAnnotated() (*Record, error) {
	b, err := s.readState()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil && !errors.Is(err, bounded.ErrTooLarge) {
		if errors.Is(err, ErrState) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if err == nil {
		var r *Record
		if r, err = parseState(b); err == nil {
			return r, nil
		}
	}
	s.setAside(s.root, stateName, err)
	return nil, nil
}

// readState reads state.json; fs.ErrNotExist when there is none.
func (s *Store) readState() ([]byte, error) {
	ok, err := s.open(false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, os.ErrNotExist
	}
	return s.root.ReadFile(stateName, maxFile)
}

func (s *Store) writeState(r *Record) error {
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Last: r}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.root, stateName, b, true); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	return nil
}

// setAside renames a corrupt file of d to NAME.corrupt.
func (s *Store) setAside(d *statedir.Dir, name string, err error) {
	path := d.Join(name)
	if s.readOnly {
		s.log.Warn("corrupt file passed over", "file", path, "err", err)
		return
	}
	aside := name + ".corrupt"
	s.log.Warn("corrupt file set aside", "file", path, "as", d.Join(aside), "err", err)
	if err := d.Rename(name, aside); err != nil {
		s.log.Warn("could not set aside", "file", path, "err", err)
	}
}

// newer says whether entry e was recorded after the record r.
func newer(e *Entry, r *Record) bool {
	if r == nil {
		return true
	}
	if e.Seq != 0 || r.Seq != 0 {
		return e.Seq > r.Seq
	}
	// Both from before sequence numbers: only times are known.
	return e.Time.After(r.Time)
}

// MarkDelivered records that Axiom accepted an entry (or, for an entry that
// sends nothing, that it is done): the state first, then the spool file
// goes, so that a crash between the two leaves a spool entry that the next
// run recognises instead of sending it again. The state keeps the newest
// deploy recorded: an older entry delivered late does not replace it.
func (s *Store) MarkDelivered(ctx context.Context, e *Entry, id string) error {
	why := ""
	if id == "" && e.NoAnnotation {
		why = NotAnnotatedOff
	}
	return s.change(ctx, func() error { return s.settle(e, id, why) })
}

// settle records, under the spool lock, that entry e is done with: its
// annotation id, or why it has none; then removes it from the spool.
func (s *Store) settle(e *Entry, id, why string) error {
	last, err := s.last()
	if err != nil {
		return err
	}
	if !e.Rollout && newer(e, last) {
		title := e.Name()
		if e.Request != nil {
			title = e.Request.Title
		}
		rec := &Record{Seq: e.Seq, StorePath: e.StorePath, Generation: e.Generation, Time: e.Time, AnnotationID: id, Title: title, NotAnnotated: why}
		if err := s.writeState(rec); err != nil {
			return err
		}
	}
	return s.remove(e)
}
