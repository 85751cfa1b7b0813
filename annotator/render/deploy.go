package render

import (
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"slices"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Deploy is a deploy as its annotation describes it.
type Deploy struct {
	Generation *nixinfo.Generation
	// Diff is what changed since the previous system; nil when there is no
	// previous system or the difference could not be found.
	Diff *nixinfo.Diff
	// TraceID is the run's trace, when it is exported.
	TraceID string
	// Time is when the deploy was first seen.
	Time time.Time
	// Health is how it ended, nil when not judged.
	Health *health.Report
}

// Annotation is the deploy's annotation, exactly as it is sent: a point
// at the time the deploy was first seen.
func (d Deploy) Annotation(s Settings) annotation.Annotation {
	g := d.Generation
	t := d.Time.UTC().Truncate(time.Millisecond)
	a := annotation.Annotation{
		Datasets:    slices.Clone(s.Datasets),
		Type:        s.Type,
		Time:        t,
		EndTime:     t,
		Title:       text.Truncate(title(g)+healthTitle(d.Health), MaxTitle),
		Description: description(d),
	}
	a.URL = commitLink(s.RepositoryURL, g.Revision)
	return a
}

// title is "<host> gen <N> (<short rev>)", or "<host> test (…)" when the
// system is no generation, or "<host> rollback to gen <N> (…)"; for a
// Home Manager generation "<user>@<host> hm gen <N> (…)", and so on.
func title(g *nixinfo.Generation) string {
	t := Name(g)
	if rev := shortRevision(g.Revision, g.Dirty); rev != "" {
		t += " (" + rev + ")"
	}
	return t
}

// Name is a deploy's short name, its title without the revision:
// "web-1 gen 42", "web-1 test", "web-1 rollback to gen 41",
// "alice@laptop hm gen 12".
func Name(g *nixinfo.Generation) string {
	var b strings.Builder
	b.WriteString(deployer(g))
	switch {
	case g.Number == nil:
		b.WriteString(" test")
	case g.Rollback:
		fmt.Fprintf(&b, " rollback to gen %d", *g.Number)
	default:
		fmt.Fprintf(&b, " gen %d", *g.Number)
	}
	return b.String()
}

// shortRevision is a revision's first seven characters, "-dirty" added
// when the tree was dirty.
func shortRevision(revision string, dirty bool) string {
	rev := text.Line(revision)
	if rev == "" {
		return ""
	}
	if commitPattern.MatchString(rev) && len(rev) > 7 {
		rev = rev[:7]
	} else {
		rev = text.Truncate(rev, 40)
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func description(d Deploy) string {
	g := d.Generation
	var head strings.Builder
	what := "generation"
	if g.Number == nil {
		what = "test activation, no generation"
	} else if g.Rollback {
		what = fmt.Sprintf("rollback to generation %d", *g.Number)
	} else {
		what = fmt.Sprintf("generation %d", *g.Number)
	}
	fmt.Fprintf(&head, "%s %s", subject(g), what)
	if g.Label != "" {
		fmt.Fprintf(&head, ", %s %s", platformName(g), text.Truncate(text.Line(g.Label), maxField))
	}
	head.WriteString(".\n")
	switch rev := text.Truncate(text.Line(g.Revision), maxField); {
	case rev == "":
		head.WriteString("Commit: unknown\n")
	case g.Dirty:
		fmt.Fprintf(&head, "Commit: %s (dirty tree)\n", rev)
	default:
		fmt.Fprintf(&head, "Commit: %s\n", rev)
	}
	fmt.Fprintf(&head, "%s: %s\n", storePathLabel(g), text.Line(g.StorePath))
	head.WriteString(healthDescription(d.Health))
	if d.Diff != nil && d.Diff.SizeBefore > 0 && d.Diff.SizeAfter > 0 {
		fmt.Fprintf(&head, "Closure: %s (%s)\n", bytesIEC(d.Diff.SizeAfter), signedBytes(d.Diff.SizeAfter-d.Diff.SizeBefore))
	}

	var tail strings.Builder
	if d.TraceID != "" {
		fmt.Fprintf(&tail, "\nTrace: %s", d.TraceID)
	}

	previous := ""
	if g.Previous != "" {
		previous = "Previous: " + text.Line(g.Previous) + "\n"
	}
	// The changes get what the rest leaves; the previous system is the
	// first to go when space is short.
	room := MaxDescription - head.Len() - tail.Len()
	const label = "Changes: "
	var changes string
	switch {
	case g.Previous == "":
		changes = label + "first deploy, nothing to compare with"
	case d.Diff == nil:
		changes = label + "unknown"
	case len(d.Diff.Changes) == 0:
		changes = label + "no package changes"
	default:
		if room-len(previous)-len(label) < 120 {
			previous = ""
		}
		changes = label + summarizeChanges(d.Diff.Changes, room-len(previous)-len(label))
	}
	if len(previous)+len(changes) > room {
		previous = ""
	}
	return text.Truncate(head.String()+previous+text.Truncate(changes, room-len(previous))+tail.String(), MaxDescription)
}

// bytesIEC writes a size as "1.2 GiB".
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func signedBytes(n int64) string {
	if n < 0 {
		return "-" + bytesIEC(-n)
	}
	return "+" + bytesIEC(n)
}
