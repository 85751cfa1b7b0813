package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// recordCurrent discovers the running system and records it unless it is
// the newest deploy recorded already.
func (r *runner) recordCurrent(ctx context.Context, a *annotator.Annotator) (annotator.Recording, error) {
	last, pending, err := a.Latest()
	if err != nil {
		return annotator.Recording{}, err
	}
	g, err := r.discover(ctx, a, latestSystem(last, pending))
	if err != nil {
		return annotator.Recording{}, err
	}
	rec, err := a.Record(ctx, g, time.Now(), r.c.force)
	if err == nil && rec.Annotated != nil {
		r.log.Info("already annotated: this system is the one annotated last; --force sends anyway",
			"system", g.StorePath, "annotation", rec.Annotated.AnnotationID)
	}
	return rec, err
}

// latestSystem is the system of the newest deploy recorded, the one a new
// deploy is compared with; "" when there is none.
func latestSystem(last *annotator.Record, pending *annotator.Entry) string {
	switch {
	case pending != nil:
		return pending.StorePath
	case last != nil:
		return last.StorePath
	}
	return ""
}

func (r *runner) record(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	rec, err := r.recordCurrent(ctx, a)
	if err != nil {
		return outcome{}, err
	}
	if o, done := notNew(rec); done {
		return o, nil
	}
	return outcome{outcome: "recorded", line: fmt.Sprintf("recorded %q", rec.Entry.Name()), entry: rec.Entry}, nil
}

// notNew is the outcome of a record that found the deploy recorded before.
func notNew(rec annotator.Recording) (outcome, bool) {
	switch {
	case rec.Annotated != nil:
		line := "already annotated: " + rec.Annotated.Title
		if rec.Annotated.AnnotationID != "" {
			line += " as " + rec.Annotated.AnnotationID
		}
		return outcome{outcome: "already-annotated", line: line, id: rec.Annotated.AnnotationID}, true
	case rec.Pending != nil:
		return outcome{outcome: "spooled", line: pendingLine(rec.Pending), entry: rec.Pending}, true
	}
	return outcome{}, false
}

func pendingLine(e *annotator.Entry) string {
	name := e.Name()
	if e.Request != nil {
		name = e.Request.Title
	}
	line := fmt.Sprintf("spooled, not yet delivered: %q (%d attempts", name, e.Attempts)
	if e.LastError != "" {
		line += ", last error: " + e.LastError
	}
	return line + ")"
}

func (r *runner) annotate(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	rec, err := r.recordCurrent(ctx, a)
	if err != nil {
		return outcome{}, err
	}
	res, derr := a.Deliver(ctx, true)
	r.delivering = a
	mine := rec.Entry
	if mine == nil {
		mine = rec.Pending
	}
	if mine != nil {
		for _, d := range res.Delivered {
			if d.Entry.ID != mine.ID {
				continue
			}
			if d.ID == "" {
				return outcome{outcome: "recorded", line: fmt.Sprintf("recorded %q (annotations are off)", d.Entry.Name()), entry: d.Entry}, nil
			}
			return outcome{outcome: "annotated", line: fmt.Sprintf("annotated %q as %s", d.Entry.Request.Title, d.ID), entry: d.Entry, id: d.ID}, nil
		}
	}
	switch {
	case errors.Is(derr, annotator.ErrBusy):
		r.log.Info("another run is delivering the spool; it or the next flush delivers this deploy")
	case derr != nil:
		return outcome{}, derr
	case res.Err != nil:
		r.log.Warn("annotation not delivered; it stays spooled for the next run", "pending", res.Pending, "err", res.Err)
	}
	if o, done := notNew(rec); done {
		if rec.Pending != nil {
			o.line = pendingLine(latestCopy(a, rec.Pending))
		}
		o.err = res.Err
		return o, nil
	}
	return outcome{outcome: "spooled", line: fmt.Sprintf("not delivered, spooled for the next run: %q", rec.Entry.Name()), entry: rec.Entry, err: res.Err}, nil
}

// latestCopy is e as the spool holds it now, after a delivery attempt.
func latestCopy(a *annotator.Annotator, e *annotator.Entry) *annotator.Entry {
	pending, err := a.Pending()
	if err != nil {
		return e
	}
	for _, p := range pending {
		if p.ID == e.ID {
			return p
		}
	}
	return e
}

// deliverSpool delivers what is spooled: what the flush mode does, and what
// a run does again with what was recorded while it delivered. Without wait
// it leaves the spool to another run delivering it.
func (r *runner) deliverSpool(ctx context.Context, a *annotator.Annotator, wait bool) (outcome, error) {
	res, err := a.Deliver(ctx, wait)
	if errors.Is(err, annotator.ErrBusy) {
		r.log.Info("another run is delivering the spool; leaving it to that run")
		return outcome{outcome: "busy", line: "another run is delivering the spool"}, nil
	}
	if err == nil && errors.Is(res.Err, annotator.ErrState) {
		err = res.Err
	}
	if err != nil {
		return outcome{}, err
	}
	out := outcome{outcome: "flushed", delivered: len(res.Delivered), pending: res.Pending}
	out.line = flushLine(out)
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("deploy.spooled", res.Pending))
	if res.Err != nil {
		r.log.Warn("not everything delivered; it stays spooled for the next run", "pending", res.Pending, "err", res.Err)
		out.outcome, out.err = "spooled", res.Err
	}
	return out, nil
}

func flushLine(o outcome) string {
	return fmt.Sprintf("delivered %d, %d still spooled", o.delivered, o.pending)
}

func (r *runner) drop(a *annotator.Annotator) (outcome, error) {
	dropped, err := a.Drop(r.args...)
	if err != nil {
		return outcome{}, fail(exitUsage, err)
	}
	names := make([]string, len(dropped))
	for i, e := range dropped {
		names[i] = fmt.Sprintf("%s (%q)", e.ID, e.Name())
		r.log.Warn("spooled deploy dropped; it will not be annotated", "id", e.ID, "deploy", e.Name())
	}
	return outcome{outcome: "dropped", line: "dropped " + strings.Join(names, ", ")}, nil
}

// dryRunOutput is what --dry-run prints.
type dryRunOutput struct {
	// Send says whether a run would send this annotation; Reason says why
	// not.
	Send       bool                `json:"send"`
	Reason     string              `json:"reason,omitempty"`
	Annotation any                 `json:"annotation"`
	Generation *nixinfo.Generation `json:"generation"`
	Changes    []nixinfo.Change    `json:"changes"`
}

func (r *runner) dryRun(ctx context.Context) (outcome, error) {
	a := annotator.New(annotator.ReadStore(r.c.StateDir, r.log), r.options(false))
	if r.mode == "flush" {
		pending, err := a.Pending()
		if err != nil {
			return outcome{}, err
		}
		return outcome{outcome: "dry-run"}, r.printJSON(map[string]any{"pending": pendingView(pending)})
	}
	last, pending, err := a.Latest()
	if err != nil {
		return outcome{}, err
	}
	g, err := r.discover(ctx, a, latestSystem(last, pending))
	if err != nil {
		return outcome{}, err
	}
	e, diff := a.Preview(ctx, g, time.Now())
	out := dryRunOutput{Send: r.c.Annotate, Annotation: e.Request, Generation: g, Changes: []nixinfo.Change{}}
	if diff != nil {
		out.Changes = diff.Changes
	}
	switch {
	case !r.c.Annotate:
		out.Reason = "annotations are off: the deploy would be recorded and traced only"
	case pending != nil && pending.StorePath == g.StorePath:
		out.Send, out.Reason = false, "this system is spooled already and would be delivered from the spool: flush --dry-run shows it"
	case pending == nil && last != nil && last.StorePath == g.StorePath && !r.c.force:
		out.Send, out.Reason = false, "this system was annotated last, as "+last.AnnotationID+": nothing would be sent (--force sends anyway)"
	}
	return outcome{outcome: "dry-run"}, r.printJSON(out)
}

// pendingEntry is how flush --dry-run shows an entry.
type pendingEntry struct {
	ID         string `json:"id"`
	Deploy     string `json:"deploy"`
	Time       string `json:"time"`
	Attempts   int    `json:"attempts"`
	LastError  string `json:"lastError,omitempty"`
	Annotation any    `json:"annotation,omitempty"`
}

func pendingView(entries []*annotator.Entry) []pendingEntry {
	out := make([]pendingEntry, 0, len(entries))
	for _, e := range entries {
		p := pendingEntry{ID: e.ID, Deploy: e.Name(), Time: e.Time.Format(time.RFC3339Nano), Attempts: e.Attempts, LastError: e.LastError}
		if e.Request != nil {
			p.Annotation = e.Request
		}
		out = append(out, p)
	}
	return out
}

func (r *runner) printJSON(v any) error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
