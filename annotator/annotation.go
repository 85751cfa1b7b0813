// Package annotator decides what Axiom is told about a deploy, delivers it
// through the annotations API, and keeps the state that makes sure each
// deploy is told once: the last annotated system and a spool of what is yet
// to be delivered.
package annotator

import (
	"fmt"
	"github.com/bdsqqq/axiom-deploy-annotation/health"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Limits of Axiom's annotations API.
const (
	MaxTitle       = 256
	MaxDescription = 512
)

// maxField bounds what one value from the system (host name, label,
// revision) may take of the description, so that the rest still fits.
const maxField = 80

// typePattern is what Axiom accepts as an annotation type.
var typePattern = regexp.MustCompile(`^[a-z0-9-]+$`)

// commitPattern is what a revision must look like to get a link.
var commitPattern = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// Settings are what the user chose about the annotation.
type Settings struct {
	Datasets []string
	Type     string
	// RepositoryURL is where the configuration's commits are browsed: an
	// https URL or a flake reference (github:owner/repo).
	RepositoryURL string
}

// Validate checks the settings the way Axiom would.
func (s Settings) Validate() error {
	if len(s.Datasets) == 0 {
		return fmt.Errorf("no dataset: name at least one")
	}
	for _, d := range s.Datasets {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("empty dataset name")
		}
	}
	if !typePattern.MatchString(s.Type) {
		return fmt.Errorf("invalid annotation type %q: use lowercase letters, digits and -", s.Type)
	}
	if s.RepositoryURL != "" {
		if _, err := repositoryBase(s.RepositoryURL); err != nil {
			return err
		}
	}
	return nil
}

// Deploy is what the annotation describes.
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

// Build makes the annotation for a deploy, exactly as it is sent.
func Build(d Deploy, s Settings) *axiom.AnnotationCreateRequest {
	g := d.Generation
	t := d.Time.UTC().Truncate(time.Millisecond)
	req := &axiom.AnnotationCreateRequest{
		Datasets: append([]string(nil), s.Datasets...),
		Type:     s.Type,
		Time:     t,
		// A point in time. The SDK would otherwise send a zero endTime.
		EndTime:     t,
		Title:       text.Truncate(title(g)+healthTitle(d.Health), MaxTitle),
		Description: description(d),
	}
	if s.RepositoryURL != "" && commitPattern.MatchString(g.Revision) {
		req.URL, _ = commitURL(s.RepositoryURL, g.Revision)
	}
	return req
}

// title is "<host> gen <N> (<short rev>)", or "<host> test (…)" when the
// system is no generation, or "<host> rollback to gen <N> (…)"; for a
// Home Manager generation "<user>@<host> hm gen <N> (…)", and so on.
func title(g *nixinfo.Generation) string {
	t := deployName(g)
	if rev := shortRevision(g); rev != "" {
		t += " (" + rev + ")"
	}
	return t
}

// deployName is the title without the revision: "web-1 gen 42".
func deployName(g *nixinfo.Generation) string {
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

// shortRevision is the revision's first seven characters, "-dirty" kept.
func shortRevision(g *nixinfo.Generation) string {
	rev := text.Line(g.Revision)
	if rev == "" {
		return ""
	}
	if commitPattern.MatchString(rev) && len(rev) > 7 {
		rev = rev[:7]
	} else {
		rev = text.Truncate(rev, 40)
	}
	if g.Dirty {
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

// commitURL is the page of a commit in a repository: …/commit/<rev> for
// GitHub, Codeberg, Gitea, Forgejo and sourcehut, …/-/commit/<rev> for GitLab.
func commitURL(repository, rev string) (string, error) {
	base, err := repositoryBase(repository)
	if err != nil {
		return "", err
	}
	sep := "/commit/"
	if strings.Contains(base.Host, "gitlab") {
		sep = "/-/commit/"
	}
	return base.String() + sep + url.PathEscape(rev), nil
}

var flakeRefHosts = map[string]string{
	"github":    "https://github.com/",
	"gitlab":    "https://gitlab.com/",
	"sourcehut": "https://git.sr.ht/",
}

func repositoryBase(repository string) (*url.URL, error) {
	r := strings.TrimSpace(repository)
	if scheme, rest, ok := strings.Cut(r, ":"); ok {
		if prefix, ok := flakeRefHosts[scheme]; ok {
			r = prefix + strings.TrimPrefix(rest, "/")
		}
	}
	// An error repeats the URL without what may be a credential
	// (text.URL): check-config's errors go into the Nix build log.
	u, err := url.Parse(r)
	switch {
	case err == nil && (u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != ""):
		return nil, fmt.Errorf("invalid repository URL %q: no user, password, query or fragment; want https://host/owner/repo or github:owner/repo", text.URL(repository))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("invalid repository URL %q: want https://host/owner/repo or github:owner/repo", text.URL(repository))
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	u.RawPath = ""
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) < 2 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("invalid repository URL %q: name the repository, as in https://host/owner/repo or github:owner/repo", text.URL(repository))
	}
	return u, nil
}

// CheckHostname says what is wrong with a host name given for the
// annotation, nil when nothing is: it must be what text.Line makes of it,
// so without control characters, invisible formatting characters
// (bidirectional overrides, zero-width spaces) or surrounding spaces.
func CheckHostname(h string) error {
	if !text.IsLine(h) || len(h) > maxField {
		return fmt.Errorf("invalid host name %q: want at most %d characters, no control or invisible formatting characters and no surrounding spaces", h, maxField)
	}
	return nil
}
