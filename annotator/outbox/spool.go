package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// Pending lists the spool, oldest first. Corrupt entries are set aside with
// a warning.
func (o *Outbox) Pending() ([]*Entry, error) {
	if _, err := o.open(false); err != nil {
		return nil, err
	}
	if o.spool == nil {
		return nil, nil
	}
	des, err := o.spool.ReadDir()
	if err != nil {
		return nil, fmt.Errorf("%w: spool: %v", ErrState, err)
	}
	var out []*Entry
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, ".json") || statedir.IsTemporary(name) {
			continue
		}
		b, err := o.spool.ReadFile(name, maxFile)
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
			o.setAside(o.spool, name, err)
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
// or else the deploy settled last (pending nil), whichever was recorded
// later. Both nil when nothing was ever recorded.
func (o *Outbox) Latest() (last *Settled, pending *Entry, err error) {
	if _, err := o.open(false); err != nil {
		return nil, nil, err
	}
	if last, err = o.Last(); err != nil {
		return nil, nil, err
	}
	entries, err := o.Pending()
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

// AddUnless adds the entry that fresh makes to the spool, as Add does,
// unless the newest deploy recorded (the settled one, or the newest
// spooled: Latest) makes judge say it is recorded already. Both run under
// the spool lock, so that two runs never both add one deploy. It returns
// what was added, nil when nothing was.
func (o *Outbox) AddUnless(ctx context.Context, limit int, judge func(last *Settled, pending *Entry) bool, fresh func() (*Entry, error)) (*Entry, error) {
	var added *Entry
	err := o.change(ctx, func() error {
		last, pending, err := o.Latest()
		if err != nil || judge(last, pending) {
			return err
		}
		e, err := fresh()
		if err != nil {
			return err
		}
		if err := o.add(e, limit); err != nil {
			return err
		}
		added = e
		return nil
	})
	return added, err
}

// Add records a new entry in the spool, durably, then drops the oldest
// entries beyond limit, with a warning for each. Its sequence number comes
// after every deploy recorded before it.
func (o *Outbox) Add(ctx context.Context, e *Entry, limit int) error {
	return o.change(ctx, func() error {
		return o.add(e, limit)
	})
}

func (o *Outbox) add(e *Entry, limit int) error {
	pending, err := o.Pending()
	if err != nil {
		return err
	}
	if e.Seq, err = o.nextSeq(pending); err != nil {
		return err
	}
	e.ID = entryID(e)
	if err := o.writeSeq(e.Seq); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	if err := o.save(e, true); err != nil {
		return err
	}
	for i := 0; limit > 0 && i < len(pending)+1-limit; i++ {
		d := pending[i]
		o.log.Warn("spool full, undelivered deploy dropped", "limit", limit, "deploy", d.Name(), "time", d.Time)
		if err := o.remove(d); err != nil {
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

// SaveDurably writes an entry that is still spooled, durably: once it
// returns, a crash does not bring the earlier version back. An entry
// removed meanwhile (delivered by another run, or dropped) is not brought
// back.
func (o *Outbox) SaveDurably(ctx context.Context, e *Entry) error {
	return o.change(ctx, func() error { return o.saveExisting(e, true) })
}

// Update is SaveDurably for what it does not matter to lose to a crash.
func (o *Outbox) Update(ctx context.Context, e *Entry) error {
	return o.change(ctx, func() error { return o.saveExisting(e, false) })
}

func (o *Outbox) saveExisting(e *Entry, durable bool) error {
	if _, err := o.spool.Lstat(entryName(e)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return o.save(e, durable)
}

func entryName(e *Entry) string { return e.ID + ".json" }

func (o *Outbox) save(e *Entry, durable bool) error {
	b, err := formatEntry(e)
	if err != nil {
		return err
	}
	if err := writeAtomic(o.spool, entryName(e), b, durable); err != nil {
		return fmt.Errorf("%w: spool: %v", ErrState, err)
	}
	return nil
}

// remove takes an entry out of the spool. Not synced: should a crash bring
// the file back, the state says it was delivered, or the lookup finds it.
func (o *Outbox) remove(e *Entry) error {
	err := o.spool.Remove(entryName(e))
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
func (o *Outbox) Drop(ctx context.Context, ids ...string) ([]*Entry, error) {
	if _, err := o.Find(ids...); err != nil {
		return nil, err
	}
	var dropped []*Entry
	err := o.change(ctx, func() error {
		var err error
		if dropped, err = o.Find(ids...); err != nil {
			return err
		}
		for _, e := range dropped {
			if err := o.settle(e, "", NotAnnotatedDropped); err != nil {
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
func (o *Outbox) Find(ids ...string) ([]*Entry, error) {
	pending, err := o.Pending()
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
