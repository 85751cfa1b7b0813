package outbox

import (
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// legacyEntry is what a spool entry of version 1 holds where this version's
// differ: the deploy under "deploy", and the annotation under "request", in
// the Axiom SDK's form (axiom.AnnotationCreateRequest), whose JSON names it
// used as the spool's own. Its fields are read, never written: an entry
// read in that format is written back in this one.
type legacyEntry struct {
	Deploy  *nixinfo.Generation `json:"deploy,omitempty"`
	Request *legacyRequest      `json:"request,omitempty"`
}

// legacyRequest is axiom.AnnotationCreateRequest as version 1 wrote it.
type legacyRequest struct {
	Datasets    []string  `json:"datasets"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	EndTime     time.Time `json:"endTime"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	URL         string    `json:"url"`
}

// carryOver moves what version 1 kept under its own names into e.
func (l legacyEntry) carryOver(e *Entry) {
	if e.Discovered == nil {
		e.Discovered = l.Deploy
	}
	if r := l.Request; r != nil && e.Annotation == nil {
		e.Annotation = &annotation.Annotation{
			Datasets:    r.Datasets,
			Type:        r.Type,
			Time:        r.Time,
			EndTime:     r.EndTime,
			Title:       r.Title,
			Description: r.Description,
			URL:         r.URL,
		}
	}
}
