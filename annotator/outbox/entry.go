package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// entryVersion is the format of the spool entries written now. Version 1,
// the first, has no version field and keeps the annotation in the Axiom
// SDK's form under "request" (legacy.go reads it).
const entryVersion = 2

// Entry is a deploy recorded in the spool, waiting to be delivered. Its
// JSON form is the spool file's.
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
	// Discovered is what discovery found when the deploy was recorded;
	// what changed is worked out at delivery. Nil for entries that carry
	// their annotation from the start.
	Discovered *nixinfo.Generation `json:"discovered,omitempty"`
	// TraceParent is the W3C trace context of the run that recorded the
	// deploy: the delivery's spans continue that trace.
	TraceParent string `json:"traceparent,omitempty"`
	// NoAnnotation entries are recorded and traced but send nothing.
	NoAnnotation bool `json:"noAnnotation,omitempty"`
	// Rollout entries are a fleet rollout's range annotation, rendered
	// when it was recorded; they name no system, and the state ignores
	// them.
	Rollout bool `json:"rollout,omitempty"`
	// Annotation is the annotation exactly as it is sent, its time the
	// deploy's; rendered at the first delivery, then kept.
	Annotation *annotation.Annotation `json:"annotation,omitempty"`
	// Changes sums up what changed, once the annotation is rendered.
	Changes *ChangeCounts `json:"changes,omitempty"`
	// FailedBefore is what failed before a NixOS deploy, as the record of
	// an earlier version found (the run that judges a deploy now works it
	// out itself); Health is how it ended, judged once by the run that
	// first delivers it.
	FailedBefore *health.Before `json:"failedBefore,omitempty"`
	Health       *health.Report `json:"health,omitempty"`
	// UnhealthySince is, on the first healthy deploy of the host after a
	// failed, degraded or rolled-back one, when the first of those was
	// deployed (time to restore runs from it); worked out with Health,
	// from the deploy times the state's history keeps. Zero otherwise.
	UnhealthySince time.Time `json:"unhealthySince,omitzero"`
	// Attempts counts the deliveries tried.
	Attempts int `json:"attempts"`
	// MaybeSent says that an attempt reached the target without an
	// answer, so that the target may hold the annotation already: look it
	// up before sending.
	MaybeSent bool `json:"maybeSent"`
	// Unanswered is when the last request that reached the target ended
	// without an answer (or, written before sending, the latest it can
	// end): the target may store it until some time after, so a lookup
	// that does not find it before then does not send it again.
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

// CountChanges sums up a diff; a nil one is changes unknown.
func CountChanges(d *nixinfo.Diff) *ChangeCounts {
	if d == nil {
		return &ChangeCounts{}
	}
	c := &ChangeCounts{Known: true, Total: len(d.Changes), SizeBefore: d.SizeBefore, SizeAfter: d.SizeAfter}
	for _, ch := range d.Changes {
		switch ch.Kind() {
		case nixinfo.Upgrade:
			c.Upgrades++
		case nixinfo.Downgrade:
			c.Downgrades++
		case nixinfo.Added:
			c.Added++
		case nixinfo.Removed:
			c.Removed++
		}
	}
	return c
}

// Name is the deploy's short name: "web-1 gen 42", "web-1 test",
// "web-1 rollback to gen 41", "alice@laptop hm gen 12"; a rollout's title.
func (e *Entry) Name() string {
	if e.Discovered != nil {
		return render.Name(e.Discovered)
	}
	if e.Annotation != nil {
		return e.Annotation.Title
	}
	return e.StorePath
}

// Title is what the deploy is called where it is shown: its annotation's
// title once rendered, its name until then.
func (e *Entry) Title() string {
	if e.Annotation != nil {
		return e.Annotation.Title
	}
	return e.Name()
}

// DeploymentID is stable for one deploy of one host: the run that records
// it and the run that delivers it give the same.
func (e *Entry) DeploymentID() string {
	host := ""
	if e.Discovered != nil {
		host = render.Who(e.Discovered)
	}
	what := e.StorePath
	if e.Rollout {
		what = "rollout"
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", host, what, e.Time.UnixMilli()))
	return hex.EncodeToString(sum[:8])
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// entryFile is a spool file as read: an entry of this version, or of
// version 1 (no version field), whose fields legacy.go carries over.
type entryFile struct {
	Version int `json:"version"`
	Entry
	legacyEntry
}

// parseEntry reads a spool file, of this format or the first.
func parseEntry(b []byte) (*Entry, error) {
	var f entryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	e := &f.Entry
	switch f.Version {
	case 0, 1:
		f.legacyEntry.carryOver(e)
	case entryVersion:
	default:
		return nil, fmt.Errorf("unknown version %d", f.Version)
	}
	if e.Time.IsZero() && e.Annotation != nil {
		e.Time = e.Annotation.Time
	}
	switch {
	case (e.StorePath == "" && !e.Rollout) || e.Time.IsZero():
		return nil, errors.New("incomplete spool entry")
	case e.Rollout && e.Annotation == nil:
		return nil, errors.New("rollout entry without its annotation")
	case e.Annotation == nil && e.Discovered == nil:
		return nil, errors.New("spool entry with neither an annotation nor a deploy")
	case e.Annotation != nil && (len(e.Annotation.Datasets) == 0 || e.Annotation.Type == ""):
		return nil, errors.New("incomplete annotation in spool entry")
	case e.Discovered != nil && e.Discovered.StorePath != e.StorePath:
		return nil, errors.New("spool entry's deploy names another system")
	case e.Seq >= maxSeq:
		return nil, errors.New("spool entry's sequence number out of range")
	}
	return e, nil
}

// formatEntry is a spool file's content, in this version's format.
func formatEntry(e *Entry) ([]byte, error) {
	return json.MarshalIndent(struct {
		Version int `json:"version"`
		*Entry
	}{entryVersion, e}, "", "  ")
}
