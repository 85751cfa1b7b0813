package annotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// ErrBusy is returned when another run is delivering the spool and this one
// was told not to wait, or its deadline came first. What this run recorded
// stays spooled: the other run, or the next, delivers it.
var ErrBusy = errors.New("another run is delivering the spool")

// ErrState is the class of errors that make the state directory unusable.
var ErrState = errors.New("state directory unusable")

// Store is the state directory: state.json, what was annotated last;
// spool/, what is yet to be delivered; two locks. "spool.lock" is held only
// while files change, so that recording a deploy never waits for more than a
// file write; "lock" is held by the run delivering the spool, for as long as
// that takes.
type Store struct {
	dir string
	log *slog.Logger
	// readOnly stores, for dry runs, change nothing on disk.
	readOnly bool
	delivery *lockFile
}

// ReadStore opens the state directory to read only, without locks: what
// it reads may be changing, which a dry run can accept.
func ReadStore(dir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: dir, log: log, readOnly: true}
}

// OpenStore makes the state directory if needed and checks that it can be
// used: no symbolic links inside it, state.json a file that can be
// replaced, room to write. Every error wraps ErrState.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, log: log}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	return s, nil
}

func (s *Store) check() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	if err := realDir(s.spoolDir()); err != nil {
		return err
	}
	for _, f := range []string{s.statePath(), s.lockPath(), s.spoolLockPath()} {
		if err := regularOrAbsent(f); err != nil {
			return err
		}
	}
	// A state this run cannot read (another user's) is never "nothing
	// annotated yet".
	if _, err := readSmall(s.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errTooLarge) {
		return err
	}
	for _, d := range []string{s.dir, s.spoolDir()} {
		if err := writable(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) statePath() string     { return filepath.Join(s.dir, "state.json") }
func (s *Store) spoolDir() string      { return filepath.Join(s.dir, "spool") }
func (s *Store) lockPath() string      { return filepath.Join(s.dir, "lock") }
func (s *Store) spoolLockPath() string { return filepath.Join(s.dir, "spool.lock") }

// LockDelivery takes the delivery lock, waiting for another run until ctx
// is done when wait is set. It returns ErrBusy when another run keeps it.
func (s *Store) LockDelivery(ctx context.Context, wait bool) error {
	l, err := acquire(ctx, s.lockPath(), wait, s.log)
	if errors.Is(err, errBusy) {
		return ErrBusy
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	s.delivery = l
	s.removeTemporary()
	return nil
}

// Close releases the delivery lock, if held.
func (s *Store) Close() error {
	s.delivery.release()
	s.delivery = nil
	return nil
}

// change runs fn holding the spool lock. Holders only read and write a few
// small files, so the wait is bounded by a file write; the deadline still
// bounds it.
func (s *Store) change(fn func() error) error {
	if s.readOnly {
		return errors.New("read-only state directory")
	}
	l, err := s.lockSpool()
	if err != nil {
		return err
	}
	defer l.release()
	return fn()
}

// lockSpool takes the spool lock, and waits for a run that kept it until
// it exited to be gone (see Settle).
func (s *Store) lockSpool() (*lockFile, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := acquire(ctx, s.spoolLockPath(), true, s.log)
	if err != nil {
		return nil, fmt.Errorf("%w: spool lock: %v", ErrState, err)
	}
	l.awaitEnded(s.log)
	return l, nil
}

// removeTemporary removes what a run that stopped while writing a file left
// behind. Only the delivery lock's holder does it, under the spool lock, so
// no file being written is removed.
func (s *Store) removeTemporary() {
	_ = s.change(func() error {
		for _, dir := range []string{s.dir, s.spoolDir()} {
			des, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, de := range des {
				if de.Type().IsRegular() && isTemporary(de.Name()) {
					os.Remove(filepath.Join(dir, de.Name()))
				}
			}
		}
		return nil
	})
}

// Record is what was annotated last.
type Record struct {
	// Seq orders deploys as they were recorded, whatever the clocks said.
	Seq          uint64    `json:"seq,omitempty"`
	StorePath    string    `json:"storePath"`
	Generation   *int      `json:"generation"`
	Time         time.Time `json:"time"`
	AnnotationID string    `json:"annotationId"`
	Title        string    `json:"title"`
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
	b, err := readSmall(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil && !errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if err == nil {
		var r *Record
		if r, err = parseState(b); err == nil {
			return r, nil
		}
	}
	s.setAside(s.statePath(), err)
	return nil, nil
}

func (s *Store) writeState(r *Record) error {
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Last: r}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.statePath(), b, true); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	return nil
}

func (s *Store) setAside(path string, err error) {
	if s.readOnly {
		s.log.Warn("corrupt file passed over", "file", path, "err", err)
		return
	}
	aside := path + ".corrupt"
	s.log.Warn("corrupt file set aside", "file", path, "as", aside, "err", err)
	if err := os.Rename(path, aside); err != nil {
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
func (s *Store) MarkDelivered(e *Entry, id string) error {
	return s.change(func() error {
		last, err := s.LastAnnotated()
		if err != nil {
			return err
		}
		if !e.Rollout && newer(e, last) {
			title := ""
			if e.Request != nil {
				title = e.Request.Title
			}
			rec := &Record{Seq: e.Seq, StorePath: e.StorePath, Generation: e.Generation, Time: e.Time, AnnotationID: id, Title: title}
			if err := s.writeState(rec); err != nil {
				return err
			}
		}
		return s.remove(e)
	})
}
