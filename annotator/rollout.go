package annotator

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// Rollout is a deploy command run over a fleet, from its start to its end.
type Rollout struct {
	// Command is the command line as it was run; BuildRollout masks what
	// looks secret.
	Command    []string
	Start, End time.Time
	ExitCode   int
	// Signal is the signal that killed the command, such as "SIGTERM", or "".
	Signal string
	// Revision is the commit rolled out; a "-dirty" suffix is read as Dirty.
	Revision string
	Dirty    bool
	TraceID  string
}

// Failed reports whether the command failed or was killed.
func (r Rollout) Failed() bool { return r.ExitCode != 0 || r.Signal != "" }

// BuildRollout makes the range annotation for a rollout, exactly as it is
// sent.
func BuildRollout(r Rollout, s Settings) *axiom.AnnotationCreateRequest {
	start := r.Start.UTC().Truncate(time.Millisecond)
	end := r.End.UTC().Truncate(time.Millisecond)
	if end.Before(start) {
		end = start
	}
	rev, dirty := strings.CutSuffix(text.Line(r.Revision), "-dirty")
	dirty = dirty || r.Dirty
	args := MaskArgs(r.Command)
	req := &axiom.AnnotationCreateRequest{
		Datasets:    append([]string(nil), s.Datasets...),
		Type:        s.Type,
		Time:        start,
		EndTime:     end,
		Title:       rolloutTitle(r, rev, dirty, args),
		Description: rolloutDescription(r, rev, dirty, args, end.Sub(start)),
	}
	if s.RepositoryURL != "" && commitPattern.MatchString(rev) {
		req.URL, _ = commitURL(s.RepositoryURL, rev)
	}
	return req
}

// rolloutTitle is "rollout <short rev>: <command>", then " failed (exit 1)"
// or " failed (SIGTERM)" when it failed; the command gives way first.
func rolloutTitle(r Rollout, rev string, dirty bool, args []string) string {
	head := "rollout"
	if short := shortRevision(&nixinfo.Generation{Revision: rev, Dirty: dirty}); short != "" {
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
	line := label + text.Truncate(shellJoin(args), room) + "\n"
	return text.Truncate(strings.TrimSuffix(line+rest.String(), "\n"), MaxDescription)
}

// shellJoin writes a command line the way a shell would take it back.
func shellJoin(args []string) string {
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

const masked = "***"

// MaskArgs returns args with what looks secret replaced by "***": values of
// flags and NAME=value assignments whose name says token, secret, password,
// key, auth or credential; values of such headers (Authorization: …); URL
// passwords; and tokens recognised by their prefix (xaat-, xapt-, ghp_,
// glpat-, …), wherever they appear. Flags that only name a file, path or
// command ("--token-file") keep their values.
func MaskArgs(args []string) []string {
	out := make([]string, len(args))
	for i := 0; i < len(args); i++ {
		out[i] = maskArg(args[i])
		name, _, hasValue := flagParts(args[i])
		if name == "" || hasValue || i+1 == len(args) {
			continue
		}
		switch {
		case secretName(name) && !switchFlag(name) && !strings.HasPrefix(args[i+1], "-"):
			// --token VALUE
			i++
			out[i] = masked
		case pairFlags[name] && i+2 < len(args) && secretName(args[i+1]):
			// nix's --option NAME VALUE, --argstr NAME VALUE
			out[i+1] = maskArg(args[i+1])
			out[i+2] = masked
			i += 2
		}
	}
	return out
}

// pairFlags take a name and a value, as nix's do.
var pairFlags = map[string]bool{"option": true, "arg": true, "argstr": true}

// flagParts splits "--name=value" or "-name"; name is "" when a is no flag.
func flagParts(a string) (name, value string, hasValue bool) {
	if !strings.HasPrefix(a, "-") || a == "--" {
		return "", "", false
	}
	name, value, hasValue = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
	if name == "" || !unicode.IsLetter(rune(name[0])) {
		return "", "", false
	}
	return name, value, hasValue
}

var (
	envAssign   = regexp.MustCompile(`(?s)^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	wholeHeader = regexp.MustCompile(`(?s)^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.+)$`)
)

func maskArg(a string) string {
	if name, value, ok := flagParts(a); ok {
		if secretName(name) && value != "" {
			return maskTokens(a[:len(a)-len(value)] + masked)
		}
		return maskTokens(a[:len(a)-len(value)] + maskText(value))
	}
	if m := envAssign.FindStringSubmatch(a); m != nil && secretName(m[1]) && m[2] != "" {
		return maskTokens(m[1] + "=" + masked)
	}
	if m := wholeHeader.FindStringSubmatch(a); m != nil && secretName(m[1]) && !strings.HasPrefix(m[2], "//") {
		return maskTokens(m[1] + ": " + masked)
	}
	return maskText(a)
}

var (
	// scheme://user:password@host
	urlPassword = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s:/?#@'"]*):[^\s/?#'"]*@`)
	// Name: value, as in a header; schemes such as bearer take the next word.
	header = regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9-]*)([ \t]*:[ \t]*)((?i:(?:bearer|basic|token|digest|negotiate)[ \t]+)?[^\s'"]+)`)
	// NAME=value, --name=value, ?name=value
	assignment = regexp.MustCompile(`([A-Za-z0-9_.-]+)=([^\s'"&;]+)`)
	bearer     = regexp.MustCompile(`(?i)\b(bearer[ \t]+)[^\s'"]+`)
	jwt        = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	// Tokens known by their prefix: Axiom, GitHub, GitLab, Slack,
	// Tailscale, Stripe, AWS access key ids.
	prefixed = regexp.MustCompile(`(xaat-|xapt-|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|gldt-|glrt-|glptt-|xox[abposr]-|tskey-|sk_live_|rk_live_)[A-Za-z0-9_-]{8,}|(AKIA)[0-9A-Z]{16}`)
)

// maskText masks secrets inside a longer text, such as a script given to
// sh -c.
func maskText(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}:"+masked+"@")
	s = header.ReplaceAllStringFunc(s, func(m string) string {
		p := header.FindStringSubmatch(m)
		if !secretName(p[1]) || strings.HasPrefix(p[3], "//") {
			return m
		}
		return p[1] + p[2] + masked
	})
	s = assignment.ReplaceAllStringFunc(s, func(m string) string {
		name, _, _ := strings.Cut(m, "=")
		if !secretName(name) {
			return m
		}
		return name + "=" + masked
	})
	s = bearer.ReplaceAllString(s, "${1}"+masked)
	s = jwt.ReplaceAllString(s, masked)
	return maskTokens(s)
}

// maskTokens comes last, so that no known token survives whatever the other
// rules did.
func maskTokens(s string) string {
	return prefixed.ReplaceAllString(s, "${1}${2}"+masked)
}

// Words that make a name secret, whole or as part of a word.
var (
	secretWords = map[string]bool{
		"key": true, "auth": true, "pass": true, "pw": true, "cookie": true, "creds": true,
		"bearer": true, "jwt": true, "authorization": true,
	}
	secretParts = []string{"token", "secret", "passw", "passphrase", "credential", "apikey", "authkey", "privkey", "privatekey", "accesskey"}
	// A name with one of these words refers to a secret rather than holding it.
	referenceWords = map[string]bool{
		"file": true, "files": true, "path": true, "paths": true, "dir": true, "fd": true,
		"env": true, "command": true, "cmd": true,
	}
	// A flag that starts with one of these words takes no value.
	switchWords = map[string]bool{
		"no": true, "ask": true, "use": true, "with": true, "without": true, "prompt": true,
		"enable": true, "disable": true, "allow": true, "skip": true, "require": true,
		"show": true, "print": true, "insecure": true, "upload": true, "keep": true,
	}
)

func secretName(name string) bool {
	secret := false
	for _, w := range nameWords(name) {
		if referenceWords[w] {
			return false
		}
		if secretWords[w] {
			secret = true
		}
		for _, p := range secretParts {
			if strings.Contains(w, p) {
				secret = true
			}
		}
	}
	return secret
}

func switchFlag(name string) bool {
	w := nameWords(name)
	return len(w) > 0 && switchWords[w[0]]
}

// nameWords splits "api-key", "API_KEY" and "apiKey" into lower-case words.
func nameWords(name string) []string {
	var words []string
	var b strings.Builder
	prevLower := false
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			if b.Len() > 0 {
				words = append(words, b.String())
				b.Reset()
			}
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			words = append(words, b.String())
			b.Reset()
		}
		b.WriteRune(unicode.ToLower(r))
		prevLower = unicode.IsLower(r)
	}
	if b.Len() > 0 {
		words = append(words, b.String())
	}
	return words
}
