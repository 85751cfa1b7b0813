// Package mask hides what looks secret in a command line before it is
// shown: in a rollout's annotation and on its span.
package mask

import (
	"path"
	"regexp"
	"strings"
	"unicode"
)

const masked = "***"

// Args returns args with what looks secret replaced by "***": values of
// flags and NAME=value assignments whose name says token, secret, password,
// key, auth or credential (a value may start with "-": only "--…" or a lone
// "-x" after such a flag is taken for the next flag); values of such
// headers (Authorization: …); the password of "-u user:pass" and
// "--user=user:pass" (curl and the like); "-pPASS" after mysql, mariadb or
// sshpass, and sshpass's "-p PASS"; URL passwords, whatever they hold; the
// user of an http(s) URL, which alone is a token; and tokens recognised by
// their prefix (xaat-, xapt-, ghp_, glpat-, …), wherever they appear. The
// same goes inside a script (sh -c '…'). Flags that only name a file, path
// or command ("--token-file") keep their values.
func Args(args []string) []string {
	out := make([]string, len(args))
	// after[i] is the last program that takes a password in -p before
	// args[i], whatever flag took the word naming it as its value.
	after := make([]passwordProgram, len(args))
	for i := 1; i < len(args); i++ {
		after[i] = after[i-1]
		if p := passwordPrograms[path.Base(args[i-1])]; p != none {
			after[i] = p
		}
	}
	for i := 0; i < len(args); i++ {
		a, prog := args[i], after[i]
		out[i] = maskArg(a)
		if prog != none && len(a) > 2 && strings.HasPrefix(a, "-p") {
			// mysql -pPASS, sshpass -pPASS
			out[i] = "-p" + masked
			continue
		}
		name, _, hasValue := flagParts(a)
		if name == "" || hasValue || i+1 == len(args) {
			continue
		}
		next := args[i+1]
		switch {
		case secretName(name) && !switchFlag(name) && !flagLike(next):
			// --token VALUE, --token -VALUE
			i++
			out[i] = masked
		case userFlags[name] && !flagLike(next):
			// -u user:pass
			i++
			out[i] = maskArg(maskUserPassword(next))
		case a == "-p" && prog == sshpass && !flagLike(next):
			i++
			out[i] = masked
		case pairFlags[name] && i+2 < len(args) && secretName(next):
			// nix's --option NAME VALUE, --argstr NAME VALUE
			out[i+1] = maskArg(next)
			out[i+2] = masked
			i += 2
		}
	}
	return out
}

// flagLike says whether an argument after a flag is the next flag rather
// than the flag's value: "--…", or a lone "-x" or "-".
func flagLike(s string) bool {
	return strings.HasPrefix(s, "--") || strings.HasPrefix(s, "-") && len(s) <= 2
}

// A program that takes a password in -p: mysql's and mariadb's tools only
// as -pPASS (-p alone asks for it), sshpass as -pPASS or -p PASS.
type passwordProgram int

const (
	none passwordProgram = iota
	mysql
	sshpass
)

var passwordPrograms = map[string]passwordProgram{
	"mysql": mysql, "mysqldump": mysql, "mysqladmin": mysql, "mysqlimport": mysql, "mysqlcheck": mysql, "mysqlshow": mysql, "mysqlpump": mysql,
	"mariadb": mysql, "mariadb-dump": mysql, "mariadb-admin": mysql, "mariadb-import": mysql, "mariadb-check": mysql, "mariadb-show": mysql,
	"sshpass": sshpass,
}

// userFlags take "user:password", as curl's do.
var userFlags = map[string]bool{"u": true, "U": true, "user": true, "proxy-user": true}

// maskUserPassword masks what follows the first ":" of "user:password";
// "1000:100", a user and group id, is kept.
func maskUserPassword(v string) string {
	user, pass, ok := strings.Cut(v, ":")
	if !ok || pass == "" || allDigits(user) && allDigits(pass) {
		return v
	}
	return user + ":" + masked
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
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
	// -uuser:pass
	shortUser = regexp.MustCompile(`(?s)^-[uU](.+)$`)
)

func maskArg(a string) string {
	if m := shortUser.FindStringSubmatch(a); m != nil && strings.Contains(m[1], ":") {
		return maskTokens(a[:2] + maskUserPassword(m[1]))
	}
	if name, value, ok := flagParts(a); ok {
		flag := a[:len(a)-len(value)]
		switch {
		case secretName(name) && value != "":
			return maskTokens(flag + masked)
		case userFlags[name]:
			value = maskUserPassword(value)
		}
		return maskTokens(flag + maskText(value))
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
	// scheme://user:password@host, the password up to the last "@" of the
	// word, so that one holding "/", "#" or "@" goes whole.
	urlPassword = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s:/?#@'"]*):[^\s'"]*@`)
	// http(s)://token@host: a user alone, on the web, is a token.
	urlUser = regexp.MustCompile(`(?i)\b((?:[a-z0-9.-]+\+)?https?://)[^\s:/?#@'"]+@`)
	// Name: value, as in a header; schemes such as bearer take the next word.
	header = regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9-]*)([ \t]*:[ \t]*)((?i:(?:bearer|basic|token|digest|negotiate)[ \t]+)?[^\s'"]+)`)
	// NAME=value, --name=value, ?name=value
	assignment = regexp.MustCompile(`([A-Za-z0-9_.-]+)=([^\s'"&;]+)`)
	// --name value, -name 'value' in a script
	flagValue = regexp.MustCompile(`(^|[\s;&|(])(--?[A-Za-z][A-Za-z0-9_.-]*)([ \t]+)('[^']*'|"[^"]*"|[^\s'";&|]+)`)
	// -u user:pass, --user=user:pass in a script
	userValue = regexp.MustCompile(`(^|[\s;&|(])(-[uU][ \t]*|--(?:proxy-)?user(?:=|[ \t]+))(['"]?)([^\s'";&|]+)`)
	// mysql … -pPASS, sshpass -p PASS: up to the end of the command
	passwordCommand = regexp.MustCompile(`(?:^|[\s;&|(/])(mysql[a-z]*|mariadb[a-z-]*|sshpass)(?:[ \t][^;&|\n]*|$)`)
	shortPassword   = regexp.MustCompile(`([ \t])-p([^\s'"]+)`)
	sshpassPassword = regexp.MustCompile(`([ \t])-p[ \t]+('[^']*'|"[^"]*"|[^\s'"-][^\s'"]*)`)
	bearer          = regexp.MustCompile(`(?i)\b(bearer[ \t]+)[^\s'"]+`)
	jwt             = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	// Tokens known by their prefix: Axiom, GitHub, GitLab, Slack,
	// Tailscale, Stripe, AWS access key ids.
	prefixed = regexp.MustCompile(`(xaat-|xapt-|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|gldt-|glrt-|glptt-|xox[abposr]-|tskey-|sk_live_|rk_live_)[A-Za-z0-9_-]{8,}|(AKIA)[0-9A-Z]{16}`)
)

// maskText masks secrets inside a longer text, such as a script given to
// sh -c.
func maskText(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}:"+masked+"@")
	s = urlUser.ReplaceAllString(s, "${1}"+masked+"@")
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
	s = flagValue.ReplaceAllStringFunc(s, func(m string) string {
		p := flagValue.FindStringSubmatch(m)
		name, _, _ := flagParts(p[2])
		if !secretName(name) || switchFlag(name) || flagLike(p[4]) {
			return m
		}
		return p[1] + p[2] + p[3] + masked
	})
	s = userValue.ReplaceAllStringFunc(s, func(m string) string {
		p := userValue.FindStringSubmatch(m)
		return p[1] + p[2] + p[3] + maskUserPassword(p[4])
	})
	s = passwordCommand.ReplaceAllStringFunc(s, func(m string) string {
		m = shortPassword.ReplaceAllString(m, "${1}-p"+masked)
		if strings.Contains(m, "sshpass") {
			m = sshpassPassword.ReplaceAllString(m, "${1}-p "+masked)
		}
		return m
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
