// Package axiomclient is the one place a client of Axiom's API is made, and
// the one rule for what an Axiom token and an API endpoint look like: the
// annotations target, the dashboard, the fleet view and the monitors all
// get their client from New.
package axiomclient

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// MaxAnswer is the most read of one answer from Axiom: a fleet of
// dashboard.MaxHosts hosts takes well under half of it.
const MaxAnswer = 32 << 20

// ErrAnswerTooLarge ends the reading of an answer longer than MaxAnswer.
var ErrAnswerTooLarge = fmt.Errorf("axiom's answer is larger than %d MiB", MaxAnswer>>20)

// ErrNoToken is the class of errors that say why there is no token to use.
var ErrNoToken = errors.New("no Axiom token")

// Options say which Axiom a client talks to.
type Options struct {
	// URL is the API's scheme and host (APIBase).
	URL   string
	Token string
	// OrgID goes with a personal token (xapt-…).
	OrgID string
	// Transport makes the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// New is a client of Axiom's API. It follows no redirect (authhttp: the
// token goes nowhere but the endpoint configured), reads no environment,
// makes each request once (the SDK's own retries go on for up to 10 s,
// past a run's deadline, and a retried POST whose answer was lost would
// store an annotation twice), and reads at most MaxAnswer bytes of any
// answer, error bodies included.
func New(o Options) (*axiom.Client, error) {
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	token := o.Token
	if token == "" {
		// The SDK wants a token to build a client; no request is made
		// without the real one.
		token = "xaat-none"
	}
	opts := []axiom.Option{
		axiom.SetNoEnv(),
		axiom.SetNoRetry(),
		axiom.SetURL(o.URL),
		axiom.SetToken(token),
		axiom.SetUserAgent("axiom-deploy-annotation"),
		axiom.SetClient(authhttp.Client(limitAnswers{rt, MaxAnswer}, 0)),
	}
	if o.OrgID != "" {
		opts = append(opts, axiom.SetOrganizationID(o.OrgID))
	}
	client, err := axiom.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("axiom client: %w", err)
	}
	return client, nil
}

// APIBase is the API's base URL for an annotations endpoint
// (https://api.axiom.co/v2/annotations).
func APIBase(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", errors.New("invalid API endpoint: not a URL")
	}
	switch {
	case u.User != nil:
		// Whatever is there may be a token: never repeat it.
		return "", errors.New("invalid API endpoint: it holds credentials; the token goes in the token file")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("invalid API endpoint: a query would be dropped; give the URL without one")
	case u.Fragment != "" || strings.Contains(endpoint, "#"):
		return "", errors.New("invalid API endpoint: a fragment would be dropped; give the URL without one")
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path != "" && path != "/v2/annotations" {
		return "", fmt.Errorf("invalid API endpoint %q: want https://host/v2/annotations", text.URL(endpoint))
	}
	u.Path, u.RawPath = "", ""
	return u.String(), nil
}

// CheckToken says why a token cannot be used, nil when it can; the error
// wraps ErrNoToken.
func CheckToken(token string) error {
	switch {
	case token == "":
		return ErrNoToken
	case !strings.HasPrefix(token, "xaat-") && !strings.HasPrefix(token, "xapt-"):
		return fmt.Errorf("%w: the token is not an Axiom token (xaat-… or xapt-…)", ErrNoToken)
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		// It could never go in a header; the character is not shown, as
		// the rest of the token would be.
		return fmt.Errorf("%w: the token holds a control character, space or non-ASCII character", ErrNoToken)
	}
	return nil
}

// limitAnswers cuts every answer's body at max bytes, the reader getting
// ErrAnswerTooLarge past it.
type limitAnswers struct {
	rt  http.RoundTripper
	max int64
}

func (l limitAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > l.max {
		resp.Body.Close()
		return nil, ErrAnswerTooLarge
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more says whether the body goes on past the limit.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, ErrAnswerTooLarge
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
