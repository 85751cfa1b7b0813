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
}

type stateFile struct {
	Version int      `json:"version"`
	Last    *Settled `json:"last"`
}

const stateVersion = 1

// parseState reads state.json.
func parseState(b []byte) (*Settled, error) {
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

// readState is what state.json says was settled last, nil when nothing
// was. A corrupt state file is set aside with a warning and counts as
// nothing; one that cannot be read is an error wrapping ErrState.
func (o *Outbox) readState() (*Settled, error) {
	b, err := o.readStateFile()
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
		var r *Settled
		if r, err = parseState(b); err == nil {
			return r, nil
		}
	}
	o.setAside(o.root, stateName, err)
	return nil, nil
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

func (o *Outbox) writeState(r *Settled) error {
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Last: r}, "", "  ")
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
// replace it.
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
	last, err := o.Last()
	if err != nil {
		return err
	}
	if !e.Rollout && newer(e, last) {
		title := e.Name()
		if e.Annotation != nil {
			title = e.Annotation.Title
		}
		rec := &Settled{Seq: e.Seq, StorePath: e.StorePath, Generation: e.Generation, Time: e.Time, AnnotationID: id, Title: title, NotAnnotated: why}
		if err := o.writeState(rec); err != nil {
			return err
		}
	}
	return o.remove(e)
}
