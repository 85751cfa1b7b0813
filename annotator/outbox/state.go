package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Why a deploy settled last has no annotation (Settled.NotAnnotated).
const (
	NotAnnotatedOff     = "annotations were off"
	NotAnnotatedDropped = "dropped"
)

// Settled is a deploy done with: annotated, or done with without an
// annotation, and then NotAnnotated says why. The state keeps the one
// settled last.
type Settled struct {
	// Seq orders deploys as they were recorded, whatever the clocks said.
	Seq          uint64    `json:"seq,omitempty"`
	StorePath    string    `json:"storePath"`
	Generation   *int      `json:"generation"`
	Time         time.Time `json:"time"`
	AnnotationID string    `json:"annotationId"`
	Title        string    `json:"title"`
	NotAnnotated string    `json:"notAnnotated,omitempty"`
	// Discovered is what discovery found when the deploy was recorded:
	// enough to describe it on the spans of later runs as its own spans
	// did. Nil in state written before version 2, and for deploys recorded
	// with their annotation only.
	Discovered *nixinfo.Generation `json:"discovered,omitempty"`
}

type stateFile struct {
	Version int      `json:"version"`
	Last    *Settled `json:"last"`
	// History is the systems deployed, oldest first, at most
	// HistoryLimit; empty in state written before version 3.
	History []Deployed `json:"history,omitempty"`
}

// stateVersion is the format of state.json written now. Version 1 has no
// "discovered", versions 1 and 2 no "history"; they are read as they are.
// The history's "commitTime", "rollback" and "health" are optional within
// version 3: records written before they were kept read as unknown, and a
// run that does not know them drops them without harm.
const stateVersion = 3

// parseState reads state.json.
func parseState(b []byte) (stateFile, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return stateFile{}, err
	}
	if st.Version < 1 || st.Version > stateVersion {
		return stateFile{}, fmt.Errorf("unknown version %d", st.Version)
	}
	if st.Last != nil && st.Last.StorePath == "" {
		return stateFile{}, errors.New("no store path in the last record")
	}
	if st.Last != nil && st.Last.Discovered != nil && st.Last.Discovered.StorePath != st.Last.StorePath {
		return stateFile{}, errors.New("the last record's deploy names another system")
	}
	if st.Version < 3 {
		st.History = nil
	}
	if err := checkHistory(st.History); err != nil {
		return stateFile{}, err
	}
	return st, nil
}

// readState is what state.json says was settled last, nil when nothing
// was.
func (o *Outbox) readState() (*Settled, error) {
	st, err := o.readStateAll()
	return st.Last, err
}

// readStateAll is what state.json holds, empty when there is none. A
// corrupt state file is set aside with a warning and counts as empty; one
// that cannot be read is an error wrapping ErrState.
func (o *Outbox) readStateAll() (stateFile, error) {
	b, err := o.readStateFile()
	if errors.Is(err, os.ErrNotExist) {
		return stateFile{}, nil
	}
	if err != nil && !errors.Is(err, bounded.ErrTooLarge) {
		if errors.Is(err, ErrState) {
			return stateFile{}, err
		}
		return stateFile{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	if err == nil {
		var st stateFile
		if st, err = parseState(b); err == nil {
			return st, nil
		}
	}
	o.setAside(o.root, stateName, err)
	return stateFile{}, nil
}

// readStateFile reads state.json; fs.ErrNotExist when there is none.
func (o *Outbox) readStateFile() ([]byte, error) {
	ok, err := o.open(false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, os.ErrNotExist
	}
	return o.root.ReadFile(stateName, maxFile)
}

func (o *Outbox) writeState(r *Settled, history []Deployed) error {
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Last: r, History: history}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(o.root, stateName, b, true); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	return nil
}

// setAside renames a corrupt file of d to NAME.corrupt.
func (o *Outbox) setAside(d *statedir.Dir, name string, err error) {
	path := d.Join(name)
	if o.readOnly {
		o.log.Warn("corrupt file passed over", "file", path, "err", err)
		return
	}
	aside := name + ".corrupt"
	o.log.Warn("corrupt file set aside", "file", path, "as", d.Join(aside), "err", err)
	if err := d.Rename(name, aside); err != nil {
		o.log.Warn("could not set aside", "file", path, "err", err)
	}
}

// newer says whether entry e was recorded after the settled deploy r.
func newer(e *Entry, r *Settled) bool {
	if r == nil {
		return true
	}
	if e.Seq != 0 || r.Seq != 0 {
		return e.Seq > r.Seq
	}
	// Both from before sequence numbers: only times are known.
	return e.Time.After(r.Time)
}

// SettledAs is the state's record of e when the state says that e is the
// deploy settled last: it was delivered (or dropped) by a run that stopped
// before its spool file went, or by another run since. Nil otherwise; and
// always for a rollout, which the state does not record.
func (o *Outbox) SettledAs(e *Entry) (*Settled, error) {
	last, err := o.Last()
	if err != nil || e.Rollout || last == nil || e.Seq == 0 || last.Seq != e.Seq || last.StorePath != e.StorePath {
		return nil, err
	}
	return last, nil
}

// MarkDelivered records that the target accepted an entry (or, for an
// entry that sends nothing, that it is done): the state first, then the
// spool file goes, so that a crash between the two leaves a spool entry
// that the next run recognises instead of sending it again. The state keeps
// the newest deploy recorded: an older entry delivered late does not
// replace it. The state's history keeps every deploy settled, in the order
// they were recorded.
func (o *Outbox) MarkDelivered(ctx context.Context, e *Entry, id string) error {
	why := ""
	if id == "" && e.NoAnnotation {
		why = NotAnnotatedOff
	}
	return o.change(ctx, func() error { return o.settle(e, id, why) })
}

// settle records, under the spool lock, that entry e is done with: its
// annotation id, or why it has none; then removes it from the spool.
func (o *Outbox) settle(e *Entry, id, why string) error {
	if e.Rollout {
		return o.remove(e)
	}
	last, err := o.Last()
	if err != nil {
		return err
	}
	st, err := o.readStateAll()
	if err != nil {
		return err
	}
	rec := st.Last
	if newer(e, last) {
		title := e.Name()
		if e.Annotation != nil {
			title = e.Annotation.Title
		}
		rec = &Settled{Seq: e.Seq, StorePath: e.StorePath, Generation: e.Generation, Time: e.Time, AnnotationID: id, Title: title, NotAnnotated: why, Discovered: e.Discovered}
	}
	h := st.History
	if st.Last != nil {
		// State written before the history was kept starts it.
		h = remember(h, deployedOfSettled(st.Last))
	}
	if err := o.writeState(rec, remember(h, DeployedOf(e))); err != nil {
		return err
	}
	return o.remove(e)
}

// Running is the newest deploy this state directory knows, the one its
// host runs now as far as it can tell: the newest still spooled, or else
// the one settled last. Only what describes the deploy is kept (no
// annotation, no changes, no delivery attempts). Nil when there is none,
// or when the state does not say enough to describe it (state written
// before version 2, a deploy recorded with its annotation only).
func (o *Outbox) Running() (*Entry, error) {
	last, pending, err := o.Latest()
	switch {
	case err != nil:
		return nil, err
	case pending != nil && pending.Discovered != nil:
		return &Entry{Seq: pending.Seq, StorePath: pending.StorePath, Generation: pending.Generation, Time: pending.Time, Discovered: pending.Discovered}, nil
	case pending == nil && last != nil && last.Discovered != nil:
		return &Entry{Seq: last.Seq, StorePath: last.StorePath, Generation: last.Generation, Time: last.Time, Discovered: last.Discovered}, nil
	}
	return nil, nil
}
