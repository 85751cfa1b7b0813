// Package annotation is what an annotation says, whatever target it goes
// to: the one form that rendering makes, the outbox keeps and a target
// sends.
package annotation

import (
	"slices"
	"time"
)

// Annotation is a line, or a range, on the charts of some datasets. Its
// JSON form is the project's own (the outbox keeps it, the dry run prints
// it); it reads as Axiom's annotations API does.
type Annotation struct {
	Datasets []string `json:"datasets"`
	// Type is lowercase letters, digits and "-".
	Type string `json:"type"`
	// Time is when it starts; EndTime when it ends, Time for a point.
	Time    time.Time `json:"time,omitzero"`
	EndTime time.Time `json:"endTime,omitzero"`
	Title   string    `json:"title,omitempty"`
	// Description is what a chart shows when the annotation is hovered.
	Description string `json:"description,omitempty"`
	// URL is a link, such as the commit's page.
	URL string `json:"url,omitempty"`
}

// Same says whether b is a: the same type, datasets (in any order), title
// and time, to within a second. A target that looks an annotation up
// before sending it again finds it by this.
func (a *Annotation) Same(b *Annotation) bool {
	d := b.Time.Sub(a.Time)
	return a.Type == b.Type && a.Title == b.Title && d < time.Second && d > -time.Second && sameSet(a.Datasets, b.Datasets)
}

// sameSet says whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
