package annotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Delivery is one spooled annotation that Axiom now holds.
type Delivery struct {
	Entry *Entry
	ID    string
}

// FlushResult says what a flush did.
type FlushResult struct {
	Delivered []Delivery
	// Pending counts what is still spooled.
	Pending int
	// Err is the last delivery error, nil when everything was delivered.
	Err error
}

// Flush delivers the spool, oldest first. It stops at the first error that
// would fail the rest as well (Axiom unreachable, the token refused); an
// annotation Axiom rejects stays spooled and the rest go on.
func Flush(ctx context.Context, store *Store, sender *Sender, log *slog.Logger) FlushResult {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res FlushResult
	pending, err := store.Pending()
	if err != nil {
		res.Err = err
		return res
	}
	last := store.Last()
	for i, e := range pending {
		// A run that stopped between writing the state and removing the
		// spool file left this behind: it was delivered.
		if last != nil && e.StorePath == last.StorePath && e.Request.Time.Equal(last.Time) {
			if err := store.Remove(e); err != nil {
				res.Err = err
				res.Pending += len(pending) - i
				return res
			}
			continue
		}
		// Should this run stop while a request is out, the next one must
		// look the annotation up before sending it again: say so on disk
		// first (unless it says so already, or nothing can be sent).
		// Without that record nothing is sent.
		if sender.token && !e.MaybeSent {
			ahead := *e
			ahead.MaybeSent = true
			if err := store.Save(&ahead); err != nil {
				res.Err = fmt.Errorf("spool: %w", err)
				res.Pending += len(pending) - i
				return res
			}
		}
		id, err := sender.Deliver(ctx, e)
		if err != nil {
			res.Err = err
			// Losing this update to a crash leaves the record written
			// ahead, which errs on the safe side.
			if serr := store.update(e); serr != nil {
				log.Warn("spool entry not updated", "err", serr)
			}
			if errors.Is(err, ErrRejected) {
				log.Warn("axiom rejected an annotation; it stays spooled", "title", e.Request.Title, "err", err)
				res.Pending++
				continue
			}
			res.Pending += len(pending) - i
			return res
		}
		if err := store.Delivered(e, id); err != nil {
			// Axiom holds it: the next run must find it, not send it again.
			e.MaybeSent = true
			_ = store.Save(e)
			res.Err = err
			res.Pending += len(pending) - i
			return res
		}
		res.Delivered = append(res.Delivered, Delivery{Entry: e, ID: id})
	}
	return res
}
