package render

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/mask"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Rollout is a deploy command run over a fleet, from its start to its end.
type Rollout struct {
	// Command is the command line as it was run; what looks secret is
	// masked (mask.Args) wherever it is shown.
	Command    []string
	Start, End time.Time
	ExitCode   int
	// Signal is the signal that killed the command, such as "SIGTERM", or "".
	Signal string
	// Revision is the commit rolled out; a "-dirty" suffix is read as Dirty.
	Revision string
	Dirty    bool
	// CommitTime is when the revision was committed; nil when unknown.
	CommitTime *time.Time
	TraceID    string
}

// Failed reports whether the command failed or was killed.
func (r Rollout) Failed() bool { return r.ExitCode != 0 || r.Signal != "" }

// Annotation is the rollout's range annotation, exactly as it is sent.
func (r Rollout) Annotation(s Settings) annotation.Annotation {
	start := r.Start.UTC().Truncate(time.Millisecond)
	end := r.End.UTC().Truncate(time.Millisecond)
	if end.Before(start) {
		end = start
	}
	rev, dirty := r.revision()
	args := mask.Args(r.Command)
	return annotation.Annotation{
		Datasets:    slices.Clone(s.Datasets),
		Type:        s.Type,
		Time:        start,
		EndTime:     end,
		Title:       rolloutTitle(r, rev, dirty, args),
		Description: rolloutDescription(r, rev, dirty, args, end.Sub(start)),
		URL:         commitLink(s.RepositoryURL, rev),
	}
}

// revision is the revision rolled out, on one line and without a "-dirty"
// suffix, and whether the tree was dirty.
func (r Rollout) revision() (string, bool) {
	rev, dirty := strings.CutSuffix(text.Line(r.Revision), "-dirty")
	return rev, dirty || r.Dirty
}

// rolloutTitle is "rollout <short rev>: <command>", then " failed (exit 1)"
// or " failed (SIGTERM)" when it failed; the command gives way first.
func rolloutTitle(r Rollout, rev string, dirty bool, args []string) string {
	head := "rollout"
	if short := shortRevision(rev, dirty); short != "" {
		head += " " + short
	}
	tail := ""
	if r.Failed() {
		tail = " failed (" + failure(r) + ")"
	}
	if cmd := commandSummary(args); cmd != "" {
		head += ": " + text.Truncate(cmd, MaxTitle-len(head)-len(": ")-len(tail))
	}
	return text.Truncate(head+tail, MaxTitle)
}

func failure(r Rollout) string {
	if sig := text.Truncate(text.Line(r.Signal), 24); sig != "" {
		return sig
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

// commandSummary is the program's base name and the leading arguments that
// name what it does ("colmena apply", "nixos-rebuild switch"): at most two,
// up to the first flag.
func commandSummary(args []string) string {
	if len(args) == 0 || text.Line(args[0]) == "" {
		return ""
	}
	const maxWord = 40
	words := []string{text.Truncate(text.Line(path.Base(args[0])), maxWord)}
	for _, a := range args[1:] {
		if len(words) == 3 || a == "" || strings.HasPrefix(a, "-") || strings.IndexFunc(a, unicode.IsSpace) >= 0 {
			break
		}
		words = append(words, text.Truncate(text.Line(a), maxWord))
	}
	return strings.Join(words, " ")
}

func rolloutDescription(r Rollout, rev string, dirty bool, args []string, took time.Duration) string {
	var rest strings.Builder
	fmt.Fprintf(&rest, "Duration: %s\n", took.Round(time.Millisecond))
	switch {
	case text.Line(r.Signal) != "":
		fmt.Fprintf(&rest, "Exit status: killed by %s\n", text.Truncate(text.Line(r.Signal), 24))
	case r.ExitCode != 0:
		fmt.Fprintf(&rest, "Exit status: %d (failed)\n", r.ExitCode)
	default:
		rest.WriteString("Exit status: 0\n")
	}
	switch rev = text.Truncate(rev, maxField); {
	case rev == "":
		rest.WriteString("Commit: unknown\n")
	case dirty:
		fmt.Fprintf(&rest, "Commit: %s (dirty tree)\n", rev)
	default:
		fmt.Fprintf(&rest, "Commit: %s\n", rev)
	}
	if r.TraceID != "" {
		fmt.Fprintf(&rest, "Trace: %s\n", text.Truncate(text.Line(r.TraceID), maxField))
	}
	// The command line gets what the rest leaves.
	const label = "Command: "
	room := MaxDescription - rest.Len() - len(label) - len("\n")
	line := label + text.Truncate(CommandLine(args), room) + "\n"
	return text.Truncate(strings.TrimSuffix(line+rest.String(), "\n"), MaxDescription)
}

// CommandLine writes a command line the way a shell would take it back.
func CommandLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		a = text.Line(a)
		if a != "" && strings.Trim(a, shellSafe) == "" {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

// shellSafe are the characters a shell word needs no quotes for; "*" is kept
// so that masked values read as such.
const shellSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./#*-"
