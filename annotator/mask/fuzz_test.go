package mask_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/mask"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

var axiomToken = regexp.MustCompile(`xaat-[A-Za-z0-9_-]{8,}`)

// secretForms are the places a secret goes in a command line: each a
// template in which "S" stands for the secret (given without "S" in it), and
// what the secret may not hold there.
var secretForms = []struct {
	args   []string
	cannot string
}{
	{[]string{"--token", "S"}, ""},
	{[]string{"--token=S"}, ""},
	{[]string{"--token", "-S"}, ""},
	{[]string{"curl", "-u", "user:S"}, ""},
	{[]string{"curl", "-uuser:S"}, ""},
	{[]string{"curl", "--user=user:S"}, ""},
	// A URL holds no quote but percent-encoded.
	{[]string{"https://user:S@host/x"}, "@'\""},
	{[]string{"https://S@host/x"}, ":/?#@'\""},
	{[]string{"mysql", "-pS"}, ""},
	{[]string{"sudo", "-u", "mysql", "mysql", "-pS"}, ""},
	{[]string{"sshpass", "-p", "S", "ssh", "h"}, ""},
	{[]string{"AXIOM_TOKEN=S"}, ""},
	{[]string{"sh", "-c", "deploy --token S && curl -u user:S https://user:S@h; mysql -pS; sshpass -p S ssh h"}, "@;&|()'\"`$"},
}

// FuzzMaskArgs: masking never panics, keeps the number of arguments, and
// lets no Axiom token through, wherever it sits; nor a secret, whatever it
// holds, in any of the places secretForms name, among any other arguments.
func FuzzMaskArgs(f *testing.F) {
	f.Add("--token\x00abc", "prefix=", "", uint8(0), "s3cr3t-value", uint8(0))
	f.Add("sh\x00-c", "AXIOM_TOKEN=", " && echo", uint8(1), "pa/ss#wo:rd", uint8(6))
	f.Add("https://u:", "", "@host", uint8(2), "0123456789abcdef", uint8(7))
	f.Add("xaat-aaa", "xaat-", "xaat-bbbbbbbb", uint8(3), "S3cret!", uint8(9))
	f.Add("-u\x00--option", "", "", uint8(1), "hunter22", uint8(12))
	f.Add("-u", "", "", uint8(1), "000000", uint8(11))
	f.Fuzz(func(t *testing.T, args, before, after string, at uint8, secret string, form uint8) {
		in := strings.Split(args, "\x00")
		const token = "xaat-01234567-89ab-cdef-0123-456789abcdef"
		i := int(at) % (len(in) + 1)
		withToken := append(slices.Clone(in[:i]), append([]string{before + token + after}, in[i:]...)...)
		out := mask.Args(withToken)
		if len(out) != len(withToken) {
			t.Fatalf("%d arguments in, %d out", len(withToken), len(out))
		}
		var leaks []string
		for _, a := range withToken {
			leaks = append(leaks, axiomToken.FindAllString(a, -1)...)
		}
		for _, o := range out {
			for _, l := range leaks {
				if strings.Contains(o, l) {
					t.Fatalf("mask.Args(%q) = %q: %q leaks", withToken, out, l)
				}
			}
		}
		if joined := strings.Join(out, " "); strings.Contains(joined, token) || strings.Contains(render.CommandLine(out), token) {
			t.Fatalf("mask.Args(%q) = %q: the token leaks", withToken, out)
		}

		fm := secretForms[int(form)%len(secretForms)]
		template := strings.Join(fm.args, "\x00")
		if len(secret) < 6 || strings.HasPrefix(secret, "-") || strings.ContainsAny(secret, "S \t\n\r\x00"+fm.cannot) || !text.IsLine(secret) ||
			strings.Contains(args, secret) || strings.Contains(template, secret) {
			return
		}
		placed := strings.Split(strings.ReplaceAll(template, "S", secret), "\x00")
		withSecret := append(slices.Clone(in[:i]), append(placed, in[i:]...)...)
		out = mask.Args(withSecret)
		if joined := strings.Join(out, "\x00"); strings.Contains(joined, secret) || strings.Contains(render.CommandLine(out), secret) {
			t.Fatalf("mask.Args(%q) = %q: the secret leaks", withSecret, out)
		}
	})
}
