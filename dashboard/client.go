package dashboard

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
)

// MaxAnswer is the most the views read of one answer from Axiom: a fleet
// of MaxHosts hosts takes well under half of it.
const MaxAnswer = 32 << 20

// ErrAnswerTooLarge ends the reading of an answer longer than MaxAnswer.
var ErrAnswerTooLarge = fmt.Errorf("axiom's answer is larger than %d MiB", MaxAnswer>>20)

// ClientOptions say which Axiom a view's client talks to.
type ClientOptions struct {
	// URL is the API's scheme and host.
	URL   string
	Token string
	// OrgID is needed with a personal token.
	OrgID string
	// Transport makes the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// NewClient is the Axiom client of the views (dashboard and fleet). It
// follows no redirect (authhttp: the token goes nowhere but the endpoint
// configured). It makes each request once: the SDK's own retries go on for
// up to 10 s, past the run's deadline. And it reads at most MaxAnswer bytes
// of any answer, error bodies included.
func NewClient(o ClientOptions) (*axiom.Client, error) {
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	opts := []axiom.Option{
		axiom.SetNoEnv(),
		axiom.SetNoRetry(),
		axiom.SetURL(o.URL),
		axiom.SetToken(o.Token),
		axiom.SetUserAgent("axiom-deploy-annotation"),
		axiom.SetClient(authhttp.Client(limitAnswers{rt, MaxAnswer}, 0)),
	}
	if o.OrgID != "" {
		opts = append(opts, axiom.SetOrganizationID(o.OrgID))
	}
	return axiom.NewClient(opts...)
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

// tooLarge says whether err is an answer cut at MaxAnswer.
func tooLarge(err error) bool { return errors.Is(err, ErrAnswerTooLarge) }
