package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// recordCurrent discovers the running system and records it unless it is
// the newest deploy recorded already.
func (r *runner) recordCurrent(ctx context.Context, a *annotator.Annotator) (annotator.Recording, error) {
	g, err := r.discover(ctx, a)
	if err != nil {
		return annotator.Recording{}, err
	}
	rec, err := a.Record(ctx, g, time.Now(), r.c.force)
	switch {
	case err != nil || rec.Settled == nil:
	case rec.Settled.NotAnnotated != "":
		r.log.Info("already recorded: this system is the one recorded last, not annotated; --force annotates it",
			"system", g.StorePath, "why", rec.Settled.NotAnnotated)
	default:
		r.log.Info("already annotated: this system is the one annotated last; --force sends anyway",
			"system", g.StorePath, "annotation", rec.Settled.AnnotationID)
	}
	return rec, err
}

// expectDiff tells the closures that the running system's diff is to
// come (annotate and the dry run render it): the connection to the Nix
// daemon its walk may need begins while the run discovers the system.
func (r *runner) expectDiff(ctx context.Context) {
	r.closureDiffs().Expect(ctx, r.c.CurrentSystem)
}

// record records the current system if it is a new deploy.
func (r *runner) record(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	rec, err := r.recordCurrent(ctx, a)
	if err != nil {
		return outcome{}, err
	}
	if o, done := notNew(rec); done {
		return o, nil
	}
	return outcome{outcome: vocab.OutcomeRecorded, line: fmt.Sprintf("recorded %q", rec.Entry.Name()), entry: rec.Entry}, nil
}

// notNew is the outcome of a record that found the deploy recorded before.
func notNew(rec annotator.Recording) (outcome, bool) {
	switch {
	case rec.Settled != nil && rec.Settled.NotAnnotated != "":
		line := fmt.Sprintf("already recorded, not annotated (%s): %q; --force annotates it", rec.Settled.NotAnnotated, rec.Settled.Title)
		return outcome{outcome: vocab.OutcomeAlreadyRecorded, line: line}, true
	case rec.Settled != nil:
		line := "already annotated: " + rec.Settled.Title
		if rec.Settled.AnnotationID != "" {
			line += " as " + rec.Settled.AnnotationID
		}
		return outcome{outcome: vocab.OutcomeAlreadyAnnotated, line: line, id: rec.Settled.AnnotationID}, true
	case rec.Pending != nil:
		return outcome{outcome: vocab.OutcomeSpooled, line: pendingLine(rec.Pending), entry: rec.Pending}, true
	}
	return outcome{}, false
}

func pendingLine(e *outbox.Entry) string {
	line := fmt.Sprintf("spooled, not yet delivered: %q (%d attempts", e.Title(), e.Attempts)
	if e.LastError != "" {
		line += ", last error: " + e.LastError
	}
	return line + ")"
}

// annotate records the current system if it is a new deploy, then
// delivers the spool, and says what became of the deploy. A run that
// told of no deploy of its own (the system was annotated already) says
// on its span what the host runs.
func (r *runner) annotate(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	out, err := r.annotateCurrent(ctx, a)
	if err == nil && out.entry == nil {
		carryRunning(ctx, a)
	}
	return out, err
}

// carryRunning puts on the run span what the host runs now, for a run that
// records no deploy of its own: a flush, or an annotate that found the
// system annotated already. Every such run then says what its host runs,
// so that a query over a short range sees the whole fleet.
func carryRunning(ctx context.Context, a *annotator.Annotator) {
	trace.SpanFromContext(ctx).SetAttributes(a.RunningAttributes()...)
}

// annotateCurrent is annotate but for what its span says of the host.
func (r *runner) annotateCurrent(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	r.expectDiff(ctx)
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
				return outcome{outcome: vocab.OutcomeRecorded, line: fmt.Sprintf("recorded %q (annotations are off)", d.Entry.Name()), entry: d.Entry}, nil
			}
			return outcome{outcome: vocab.OutcomeAnnotated, line: fmt.Sprintf("annotated %q as %s", d.Entry.Annotation.Title, d.ID), entry: d.Entry, id: d.ID}, nil
		}
		if o, done, err := settledElsewhere(a, mine); err != nil || done {
			return o, err
		}
	}
	switch {
	case errors.Is(derr, outbox.ErrBusy):
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
	return outcome{outcome: vocab.OutcomeSpooled, line: fmt.Sprintf("not delivered, spooled for the next run: %q", rec.Entry.Name()), entry: rec.Entry, err: res.Err}, nil
}

// settledElsewhere is the outcome of a deploy this run recorded that
// another run settled while this one waited: delivered, or dropped.
func settledElsewhere(a *annotator.Annotator, e *outbox.Entry) (outcome, bool, error) {
	done, last, err := a.Settled(e)
	switch {
	case err != nil || !done:
		return outcome{}, false, err
	case last == nil:
		return outcome{outcome: vocab.OutcomeRecorded, line: fmt.Sprintf("recorded %q, no longer spooled: another run delivered or dropped it", e.Name()), entry: e}, true, nil
	case last.NotAnnotated != "":
		return outcome{outcome: vocab.OutcomeRecorded, line: fmt.Sprintf("recorded %q, not annotated (%s)", last.Title, last.NotAnnotated), entry: e}, true, nil
	}
	return outcome{outcome: vocab.OutcomeAnnotated, line: fmt.Sprintf("annotated %q as %s by another run", last.Title, last.AnnotationID), entry: e, id: last.AnnotationID}, true, nil
}

// latestCopy is e as the spool holds it now, after a delivery attempt.
func latestCopy(a *annotator.Annotator, e *outbox.Entry) *outbox.Entry {
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

// flush delivers the spool, unless another run is delivering it.
func (r *runner) flush(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	r.delivering = a
	return r.deliverSpool(ctx, a, false)
}

// deliverSpool delivers what is spooled: what the flush mode does, and what
// a run does again with what was recorded while it delivered. Without wait
// it leaves the spool to another run delivering it.
func (r *runner) deliverSpool(ctx context.Context, a *annotator.Annotator, wait bool) (outcome, error) {
	res, err := a.Deliver(ctx, wait)
	if errors.Is(err, outbox.ErrBusy) {
		r.log.Info("another run is delivering the spool; leaving it to that run")
		carryRunning(ctx, a)
		return outcome{outcome: vocab.OutcomeBusy, line: "another run is delivering the spool"}, nil
	}
	if err == nil && errors.Is(res.Err, outbox.ErrState) {
		err = res.Err
	}
	if err != nil {
		return outcome{}, err
	}
	out := outcome{outcome: vocab.OutcomeFlushed, counts: true, delivered: len(res.Delivered), pending: res.Pending}
	out.line = flushLine(out)
	trace.SpanFromContext(ctx).SetAttributes(vocab.DeploySpooled.Int(res.Pending))
	carryRunning(ctx, a)
	if res.Err != nil {
		r.log.Warn("not everything delivered; it stays spooled for the next run", "pending", res.Pending, "err", res.Err)
		out.outcome, out.err = vocab.OutcomeSpooled, res.Err
	}
	return out, nil
}

func flushLine(o outcome) string {
	return fmt.Sprintf("delivered %d, %d still spooled", o.delivered, o.pending)
}

// drop removes spooled entries by id.
func (r *runner) drop(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	dropped, err := a.Drop(ctx, r.args...)
	if errors.Is(err, outbox.ErrNoEntry) {
		return outcome{}, fail(exitUsage, err)
	}
	if err != nil {
		return outcome{}, err
	}
	names := make([]string, len(dropped))
	for i, e := range dropped {
		names[i] = fmt.Sprintf("%s (%q)", e.ID, e.Name())
		r.log.Warn("spooled deploy dropped; it will not be annotated", "id", e.ID, "deploy", e.Name())
	}
	return outcome{outcome: vocab.OutcomeDropped, line: "dropped " + strings.Join(names, ", ")}, nil
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

// listPending is flush --dry-run: what is spooled.
func (r *runner) listPending(_ context.Context, a *annotator.Annotator) (outcome, error) {
	pending, err := a.Pending()
	if err != nil {
		return outcome{}, err
	}
	return outcome{outcome: vocab.OutcomeDryRun}, r.printJSON(map[string]any{"pending": pendingView(pending)})
}

// showDrop is drop --dry-run: the entries it would remove.
func (r *runner) showDrop(_ context.Context, a *annotator.Annotator) (outcome, error) {
	found, err := a.Find(r.args...)
	if errors.Is(err, outbox.ErrNoEntry) {
		return outcome{}, fail(exitUsage, err)
	}
	if err != nil {
		return outcome{}, err
	}
	return outcome{outcome: vocab.OutcomeDryRun}, r.printJSON(map[string]any{"drop": pendingView(found)})
}

// preview is the dry run of annotate and record: what the annotator says
// recording the current system would do, and what would be sent.
func (r *runner) preview(ctx context.Context, a *annotator.Annotator) (outcome, error) {
	r.expectDiff(ctx)
	g, err := r.discover(ctx, a)
	if err != nil {
		return outcome{}, err
	}
	p, err := a.Preview(ctx, g, time.Now(), r.c.force)
	if err != nil {
		return outcome{}, err
	}
	out := dryRunOutput{Send: r.c.Annotate, Annotation: p.Would.Annotation, Generation: g, Changes: []nixinfo.Change{}}
	if p.Diff != nil {
		out.Changes = p.Diff.Changes
	}
	switch {
	case !r.c.Annotate:
		out.Reason = "annotations are off: the deploy would be recorded and traced only"
	case p.Pending != nil:
		out.Send, out.Reason = false, thisDeploy(r.c.Scope)+" is spooled already and would be delivered from the spool: flush --dry-run shows it"
	case p.Settled != nil:
		out.Send, out.Reason = false, thisDeploy(r.c.Scope)+" was annotated last, as "+p.Settled.AnnotationID+": nothing would be sent (--force sends anyway)"
	}
	return outcome{outcome: vocab.OutcomeDryRun}, r.printJSON(out)
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

func pendingView(entries []*outbox.Entry) []pendingEntry {
	out := make([]pendingEntry, 0, len(entries))
	for _, e := range entries {
		p := pendingEntry{ID: e.ID, Deploy: e.Name(), Time: e.Time.Format(time.RFC3339Nano), Attempts: e.Attempts, LastError: e.LastError}
		if e.Annotation != nil {
			p.Annotation = e.Annotation
		}
		out = append(out, p)
	}
	return out
}

// printJSON prints v as indented JSON, what came from outside (a label, a
// host name) escaped where a terminal would take it for more than text.
func (r *runner) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = r.stdout.Write(append(text.JSON(b), '\n'))
	return err
}
