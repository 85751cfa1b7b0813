package annotator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
)

// Record is what was annotated last.
type Record struct {
	StorePath    string    `json:"storePath"`
	Generation   *int      `json:"generation"`
	Time         time.Time `json:"time"`
	AnnotationID string    `json:"annotationId"`
	Title        string    `json:"title"`
}

// Entry is an annotation waiting in the spool to be delivered.
type Entry struct {
	// ID names the spool file; entries sort oldest first by it.
	ID         string `json:"-"`
	StorePath  string `json:"storePath"`
	Generation *int   `json:"generation"`
	// Request is the annotation exactly as it is sent, its time the
	// deploy's.
	Request axiom.AnnotationCreateRequest `json:"request"`
	// Attempts counts the deliveries tried.
	Attempts int `json:"attempts"`
	// MaybeSent says that an attempt reached Axiom without an answer, so
	// Axiom may hold the annotation already: look it up before sending.
	MaybeSent bool   `json:"maybeSent"`
	LastError string `json:"lastError,omitempty"`
}

type stateFile struct {
	Version int     `json:"version"`
	Last    *Record `json:"last"`
}

const stateVersion = 1

// ErrLockTimeout is returned when another run holds the state directory
// for longer than the deadline allows.
var ErrLockTimeout = errors.New("another run holds the state directory")

// Store is the state directory, locked for this run: state.json, what was
// annotated last; spool/, what is yet to be delivered; lock.
type Store struct {
	dir  string
	lock *os.File
	log  *slog.Logger
	// readOnly stores, for dry runs, change nothing on disk.
	readOnly bool
}

// ReadStore opens the state directory to read only, without the lock: what
// it reads may be changing, which a dry run can accept.
func ReadStore(dir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: dir, log: log, readOnly: true}
}

// lockPoll is how often a run waiting for the lock tries again.
const lockPoll = 50 * time.Millisecond

// OpenStore creates the state directory if needed and takes its lock,
// waiting for another run to finish until ctx is done.
func OpenStore(ctx context.Context, dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for try := 0; ; try++ {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("state directory lock: %w", err)
		}
		if try == 0 {
			log.Info("another run holds the state directory, waiting for it", "lock", f.Name())
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w (%s)", ErrLockTimeout, filepath.Join(dir, "lock"))
		case <-t.C:
		}
	}
	s := &Store{dir: dir, lock: f, log: log}
	s.removeTemporary()
	return s, nil
}

// removeTemporary removes what a run that stopped while writing a file left
// behind; with the lock held, no other run is writing.
func (s *Store) removeTemporary() {
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
}

// isTemporary says whether a name is one writeAtomic makes.
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".json.")
}

// Close releases the lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// LastDeployed is the newest deploy recorded, spooled or annotated; a zero
// Record when there is none. An older entry still spooled (one Axiom keeps
// rejecting, say) does not hide a newer annotated deploy.
func (s *Store) LastDeployed() Record {
	var rec Record
	if last := s.Last(); last != nil {
		rec = *last
	}
	if pending, err := s.Pending(); err == nil && len(pending) > 0 {
		e := pending[len(pending)-1]
		if rec.StorePath == "" || e.Request.Time.After(rec.Time) {
			rec = Record{StorePath: e.StorePath, Generation: e.Generation, Time: e.Request.Time, Title: e.Request.Title}
		}
	}
	return rec
}

func (s *Store) statePath() string { return filepath.Join(s.dir, "state.json") }
func (s *Store) spoolDir() string  { return filepath.Join(s.dir, "spool") }

// ParseState reads state.json.
func ParseState(b []byte) (*Record, error) {
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

// Last is what was annotated last, nil when nothing was. A corrupt state
// file is set aside with a warning and counts as nothing.
func (s *Store) Last() *Record {
	b, err := readSmall(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil && !errors.Is(err, errTooLarge) {
		s.log.Warn("state unreadable", "file", s.statePath(), "err", err)
		return nil
	}
	if err == nil {
		var r *Record
		if r, err = ParseState(b); err == nil {
			return r
		}
	}
	s.setAside(s.statePath(), err)
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

// ParseEntry reads a spool file.
func ParseEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if e.StorePath == "" || len(e.Request.Datasets) == 0 || e.Request.Type == "" || e.Request.Time.IsZero() {
		return nil, errors.New("incomplete spool entry")
	}
	return &e, nil
}

// Pending lists the spool, oldest first. Corrupt entries are set aside with
// a warning.
func (s *Store) Pending() ([]*Entry, error) {
	des, err := os.ReadDir(s.spoolDir())
	if s.readOnly && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []*Entry
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(s.spoolDir(), name)
		b, err := readSmall(path)
		if err != nil && !errors.Is(err, errTooLarge) {
			s.log.Warn("spool entry unreadable", "file", path, "err", err)
			continue
		}
		var e *Entry
		if err == nil {
			e, err = ParseEntry(b)
		}
		if err != nil {
			s.setAside(path, err)
			continue
		}
		e.ID = strings.TrimSuffix(name, ".json")
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Enqueue adds an entry to the spool, then drops the oldest entries beyond
// limit, with a warning for each.
func (s *Store) Enqueue(e *Entry, limit int) error {
	sum := sha256.Sum256([]byte(e.StorePath))
	e.ID = fmt.Sprintf("%020d-%s", e.Request.Time.UnixNano(), hex.EncodeToString(sum[:4]))
	if err := s.Save(e); err != nil {
		return err
	}
	pending, err := s.Pending()
	if err != nil {
		return err
	}
	for i := 0; limit > 0 && i < len(pending)-limit; i++ {
		d := pending[i]
		s.log.Warn("spool full, undelivered annotation dropped", "limit", limit, "title", d.Request.Title, "time", d.Request.Time)
		if err := s.Remove(d); err != nil {
			return err
		}
	}
	return nil
}

// Save writes an entry to the spool, durably: once it returns, a crash
// does not bring the earlier version back.
func (s *Store) Save(e *Entry) error {
	return s.save(e, true)
}

// update writes an entry to the spool whole, but may leave the earlier
// version in its place after a crash: for what it does not matter to lose.
func (s *Store) update(e *Entry) error {
	return s.save(e, false)
}

func (s *Store) save(e *Entry, durable bool) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.spoolDir(), e.ID+".json"), b, durable)
}

// Remove takes an entry out of the spool.
func (s *Store) Remove(e *Entry) error {
	err := os.Remove(filepath.Join(s.spoolDir(), e.ID+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Not synced: should a crash bring the file back, the state says it
	// was delivered (Flush checks), or the lookup finds it.
	return err
}

// Delivered records that Axiom accepted an entry: the state first, then the
// spool file goes, so that a crash between the two leaves a spool entry that
// the next run finds with the list API instead of sending it again.
//
// The state keeps the newest delivered deploy: an older entry delivered late
// does not replace it.
func (s *Store) Delivered(e *Entry, id string) error {
	if last := s.Last(); last != nil && last.Time.After(e.Request.Time) {
		return s.Remove(e)
	}
	rec := &Record{
		StorePath:    e.StorePath,
		Generation:   e.Generation,
		Time:         e.Request.Time,
		AnnotationID: id,
		Title:        e.Request.Title,
	}
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Last: rec}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.statePath(), b, true); err != nil {
		return err
	}
	return s.Remove(e)
}

// maxFile bounds what is read of a state or spool file: an entry is a few
// kilobytes, and a file much larger is not one this program wrote.
const maxFile = 1 << 20

var errTooLarge = fmt.Errorf("larger than %d bytes", maxFile)

// readSmall reads a file of at most maxFile bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, errTooLarge
	}
	return b, nil
}

// writeAtomic writes a file whole or not at all. Durable, it syncs the
// directory too, so that the new file is there after a crash, and the
// state's and spool's changes stay in the order they were made.
func writeAtomic(path string, b []byte, durable bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
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
