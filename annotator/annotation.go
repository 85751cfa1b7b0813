// Package annotator decides what Axiom is told about a deploy, delivers it
// through the annotations API, and keeps the state that makes sure each
// deploy is told once: the last annotated system and a spool of what is yet
// to be delivered.
package annotator

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
		Title:       Truncate(Title(g), MaxTitle),
		Description: description(d),
	}
	if s.RepositoryURL != "" && commitPattern.MatchString(g.Revision) {
		req.URL, _ = CommitURL(s.RepositoryURL, g.Revision)
	}
	return req
}

// Title is "<host> gen <N> (<short rev>)", or "<host> test (…)" when the
// system is no generation, or "<host> rollback to gen <N> (…)".
func Title(g *nixinfo.Generation) string {
	var b strings.Builder
	b.WriteString(Truncate(Clean(g.Hostname), maxField))
	switch {
	case g.Number == nil:
		b.WriteString(" test")
	case g.Rollback:
		fmt.Fprintf(&b, " rollback to gen %d", *g.Number)
	default:
		fmt.Fprintf(&b, " gen %d", *g.Number)
	}
	if rev := ShortRevision(g); rev != "" {
		fmt.Fprintf(&b, " (%s)", rev)
	}
	return b.String()
}

// ShortRevision is the revision's first seven characters, "-dirty" kept.
func ShortRevision(g *nixinfo.Generation) string {
	rev := Clean(g.Revision)
	if rev == "" {
		return ""
	}
	if commitPattern.MatchString(rev) && len(rev) > 7 {
		rev = rev[:7]
	} else {
		rev = Truncate(rev, 40)
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
	platform := "NixOS"
	if g.Platform == nixinfo.Darwin {
		platform = "nix-darwin"
	}
	fmt.Fprintf(&head, "%s %s", Truncate(Clean(g.Hostname), maxField), what)
	if g.Label != "" {
		fmt.Fprintf(&head, ", %s %s", platform, Truncate(Clean(g.Label), maxField))
	}
	head.WriteString(".\n")
	switch rev := Truncate(Clean(g.Revision), maxField); {
	case rev == "":
		head.WriteString("Commit: unknown\n")
	case g.Dirty:
		fmt.Fprintf(&head, "Commit: %s (dirty tree)\n", rev)
	default:
		fmt.Fprintf(&head, "Commit: %s\n", rev)
	}
	fmt.Fprintf(&head, "System: %s\n", Clean(g.StorePath))
	if d.Diff != nil && d.Diff.SizeBefore > 0 && d.Diff.SizeAfter > 0 {
		fmt.Fprintf(&head, "Closure: %s (%s)\n", bytesIEC(d.Diff.SizeAfter), signedBytes(d.Diff.SizeAfter-d.Diff.SizeBefore))
	}

	var tail strings.Builder
	if d.TraceID != "" {
		fmt.Fprintf(&tail, "\nTrace: %s", d.TraceID)
	}

	previous := ""
	if g.Previous != "" {
		previous = "Previous: " + Clean(g.Previous) + "\n"
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
		changes = label + SummarizeChanges(d.Diff.Changes, room-len(previous)-len(label))
	}
	if len(previous)+len(changes) > room {
		previous = ""
	}
	return Truncate(head.String()+previous+Truncate(changes, room-len(previous))+tail.String(), MaxDescription)
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

// Clean makes a string from the system safe to show on one line: control
// characters and invalid UTF-8 become spaces, and it is trimmed.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, " ")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s))
}

// Truncate cuts s to at most max bytes on a UTF-8 boundary, ending it with
// "…" when cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	if max < len(ellipsis) {
		return ""
	}
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// CommitURL is the page of a commit in a repository: …/commit/<rev> for
// GitHub, Codeberg, Gitea, Forgejo and sourcehut, …/-/commit/<rev> for GitLab.
func CommitURL(repository, rev string) (string, error) {
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
	u, err := url.Parse(r)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid repository URL %q: want https://host/owner/repo or github:owner/repo", repository)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	u.RawPath = ""
	return u, nil
}
