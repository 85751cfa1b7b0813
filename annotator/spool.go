package annotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/health"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Entry is a deploy recorded in the spool, waiting to be delivered.
type Entry struct {
	// ID names the spool file: the sequence number, then a hash of the
	// store path.
	ID string `json:"-"`
	// Seq orders entries as they were recorded; 0 in entries written
	// before sequence numbers, which then sort first.
	Seq        uint64    `json:"seq,omitempty"`
	StorePath  string    `json:"storePath"`
	Generation *int      `json:"generation"`
	Time       time.Time `json:"time"`
	// Deploy is what discovery found when the deploy was recorded; what
	// changed is worked out at delivery. Nil for entries that carry their
	// request from the start.
	Deploy *nixinfo.Generation `json:"deploy,omitempty"`
	// TraceParent is the W3C trace context of the run that recorded the
	// deploy: the delivery's spans continue that trace.
	TraceParent string `json:"traceparent,omitempty"`
	// NoAnnotation entries are recorded and traced but send nothing.
	NoAnnotation bool `json:"noAnnotation,omitempty"`
	// Rollout entries are a fleet rollout's range annotation, built when
	// it was recorded; they name no system, and the state ignores them.
	Rollout bool `json:"rollout,omitempty"`
	// Request is the annotation exactly as it is sent, its time the
	// deploy's; built at the first delivery, then kept.
	Request *axiom.AnnotationCreateRequest `json:"request,omitempty"`
	// Changes sums up what changed, once the request is built.
	Changes *ChangeCounts `json:"changes,omitempty"`
	// FailedBefore is what failed before a NixOS deploy, as its record
	// found; Health is how it ended, judged once by the run that first
	// delivers it.
	FailedBefore *health.Before `json:"failedBefore,omitempty"`
	Health       *health.Report `json:"health,omitempty"`
	// Attempts counts the deliveries tried.
	Attempts int `json:"attempts"`
	// MaybeSent says that an attempt reached Axiom without an answer, so
	// Axiom may hold the annotation already: look it up before sending.
	MaybeSent bool `json:"maybeSent"`
	// Unanswered is when the last POST that reached Axiom ended without
	// an answer (or, written before sending, the latest it can end): Axiom
	// may store it until some time after, so a lookup that does not find
	// it before then does not send it again.
	Unanswered time.Time `json:"unansweredAt,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
}

// ChangeCounts count a deploy's package changes by kind, with the
// closure's size before and after (0 when unknown). Known is false when
// the changes could not be found.
type ChangeCounts struct {
	Known      bool  `json:"known"`
	Total      int   `json:"total"`
	Upgrades   int   `json:"upgrades"`
	Downgrades int   `json:"downgrades"`
	Added      int   `json:"added"`
	Removed    int   `json:"removed"`
	SizeBefore int64 `json:"sizeBefore,omitempty"`
	SizeAfter  int64 `json:"sizeAfter,omitempty"`
}

// parseEntry reads a spool file.
func parseEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if e.Time.IsZero() && e.Request != nil {
		e.Time = e.Request.Time
	}
	switch {
	case (e.StorePath == "" && !e.Rollout) || e.Time.IsZero():
		return nil, errors.New("incomplete spool entry")
	case e.Rollout && e.Request == nil:
		return nil, errors.New("rollout entry without its request")
	case e.Request == nil && e.Deploy == nil:
		return nil, errors.New("spool entry with neither a request nor a deploy")
	case e.Request != nil && (len(e.Request.Datasets) == 0 || e.Request.Type == ""):
		return nil, errors.New("incomplete request in spool entry")
	case e.Deploy != nil && e.Deploy.StorePath != e.StorePath:
		return nil, errors.New("spool entry's deploy names another system")
	case e.Seq >= maxSeq:
		return nil, errors.New("spool entry's sequence number out of range")
	}
	return &e, nil
}

// Pending lists the spool, oldest first. Corrupt entries are set aside with
// a warning.
func (s *Store) Pending() ([]*Entry, error) {
	if _, err := s.open(false); err != nil {
		return nil, err
	}
	if s.spool == nil {
		return nil, nil
	}
	des, err := s.spool.ReadDir()
	if err != nil {
		return nil, fmt.Errorf("%w: spool: %v", ErrState, err)
	}
	var out []*Entry
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, ".json") || statedir.IsTemporary(name) {
			continue
		}
		b, err := s.spool.ReadFile(name, maxFile)
		if errors.Is(err, os.ErrNotExist) {
			continue // delivered meanwhile
		}
		if err != nil && !errors.Is(err, bounded.ErrTooLarge) {
			// Passed over, it could be recorded and sent a second time.
			return nil, fmt.Errorf("%w: spool: %v", ErrState, err)
		}
		var e *Entry
		if err == nil {
			e, err = parseEntry(b)
		}
		if err != nil {
			s.setAside(s.spool, name, err)
			continue
		}
		e.ID = strings.TrimSuffix(name, ".json")
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Entry) int {
		if a.Seq != b.Seq {
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Latest is what the newest recorded deploy was: the newest spooled entry,
// or else the last annotated record (pending nil), whichever was recorded
// later. Both nil when nothing was ever recorded.
func (s *Store) Latest() (last *Record, pending *Entry, err error) {
	if _, err := s.open(false); err != nil {
		return nil, nil, err
	}
	if last, err = s.last(); err != nil {
		return nil, nil, err
	}
	entries, err := s.Pending()
	if err != nil {
		return nil, nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Rollout {
			continue
		}
		if newer(entries[i], last) {
			return last, entries[i], nil
		}
		break
	}
	return last, nil, nil
}

// Add records a new entry in the spool, durably, then drops the oldest
// entries beyond limit, with a warning for each. Its sequence number comes
// after every deploy recorded before it.
func (s *Store) Add(ctx context.Context, e *Entry, limit int) error {
	return s.change(ctx, func() error {
		return s.add(e, limit)
	})
}

func (s *Store) add(e *Entry, limit int) error {
	pending, err := s.Pending()
	if err != nil {
		return err
	}
	if e.Seq, err = s.nextSeq(pending); err != nil {
		return err
	}
	e.ID = entryID(e)
	if err := s.writeSeq(e.Seq); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	if err := s.save(e, true); err != nil {
		return err
	}
	for i := 0; limit > 0 && i < len(pending)+1-limit; i++ {
		d := pending[i]
		s.log.Warn("spool full, undelivered deploy dropped", "limit", limit, "deploy", d.Name(), "time", d.Time)
		if err := s.remove(d); err != nil {
			return err
		}
	}
	return nil
}

// entryID names an entry's file: its sequence number, so names sort as
// entries do, and a short hash of the store path.
func entryID(e *Entry) string {
	key := e.StorePath
	if e.Rollout {
		key = "rollout " + e.Time.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%020d-%s", e.Seq, shortHash(key))
}

// saveDurably writes an entry that is still spooled, durably: once it returns, a
// crash does not bring the earlier version back. An entry removed meanwhile
// (delivered by another run, or dropped) is not brought back.
func (s *Store) saveDurably(ctx context.Context, e *Entry) error {
	return s.change(ctx, func() error { return s.saveExisting(e, true) })
}

// update is saveDurably for what it does not matter to lose to a crash.
func (s *Store) update(ctx context.Context, e *Entry) error {
	return s.change(ctx, func() error { return s.saveExisting(e, false) })
}

func (s *Store) saveExisting(e *Entry, durable bool) error {
	if _, err := s.spool.Lstat(entryName(e)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return s.save(e, durable)
}

func entryName(e *Entry) string { return e.ID + ".json" }

func (s *Store) save(e *Entry, durable bool) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.spool, entryName(e), b, durable); err != nil {
		return fmt.Errorf("%w: spool: %v", ErrState, err)
	}
	return nil
}

// remove takes an entry out of the spool. Not synced: should a crash bring
// the file back, the state says it was delivered, or the lookup finds it.
func (s *Store) remove(e *Entry) error {
	err := s.spool.Remove(entryName(e))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Drop removes spooled entries by id, for entries that Axiom keeps refusing;
// the state then says that the newest of them was recorded but dropped, so
// that the next run on the same system does not record it again. An id
// that is not spooled is an error, and then nothing is removed, nor is the
// state directory made.
func (s *Store) Drop(ctx context.Context, ids ...string) ([]*Entry, error) {
	if _, err := s.Find(ids...); err != nil {
		return nil, err
	}
	var dropped []*Entry
	err := s.change(ctx, func() error {
		var err error
		if dropped, err = s.Find(ids...); err != nil {
			return err
		}
		for _, e := range dropped {
			if err := s.settle(e, "", NotAnnotatedDropped); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}

// ErrNoEntry is an id that is not spooled.
var ErrNoEntry = errors.New("no spooled entry")

// Find is the spooled entries of the ids, in their order; an id that is not
// spooled is an error wrapping ErrNoEntry.
func (s *Store) Find(ids ...string) ([]*Entry, error) {
	pending, err := s.Pending()
	if err != nil {
		return nil, err
	}
	byID := map[string]*Entry{}
	for _, e := range pending {
		byID[e.ID] = e
	}
	var found []*Entry
	for _, id := range ids {
		e, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("%w %q: flush --dry-run lists them", ErrNoEntry, id)
		}
		found = append(found, e)
	}
	return found, nil
}
