// Package axiomapi is the target that is Axiom's annotations API, through
// the official SDK: it creates an annotation, looks one up, and says what
// each answer means (target.Failure). It makes each request once; the
// retry policy is target.Sender's.
package axiomapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Config says how to reach Axiom.
type Config struct {
	// Endpoint is the annotations API, https://api.axiom.co/v2/annotations.
	Endpoint string
	// Token is a usable Axiom token (axiomclient.CheckToken).
	Token string
	// OrgID goes with a personal token (xapt-…).
	OrgID string
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// AttemptTimeout bounds each request until it is sent, so that one
	// hung connection leaves time to try again on another; 0 means none
	// but the deadline. A POST sent is waited for until the deadline.
	AttemptTimeout time.Duration
}

// Target is Axiom's annotations API.
type Target struct {
	client         *axiom.Client
	attemptTimeout time.Duration
}

var _ target.Target = (*Target)(nil)

// New is the target at cfg's endpoint, with its client from axiomclient.
func New(cfg Config) (*Target, error) {
	base, err := axiomclient.APIBase(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	client, err := axiomclient.New(axiomclient.Options{URL: base, Token: cfg.Token, OrgID: cfg.OrgID, Transport: answerTransport{transport}})
	if err != nil {
		return nil, err
	}
	return &Target{client: client, attemptTimeout: cfg.AttemptTimeout}, nil
}

// Create sends one POST. Only an answer that says Axiom did not take the
// request settles it (a redirect, which is not followed, does); without
// one, what reached Axiom may be stored, now or later, and the failure
// says so.
func (t *Target) Create(ctx context.Context, a *annotation.Annotation) (string, error) {
	var ans answer
	actx, cancel := t.postAttempt(ctx, &ans)
	created, err := t.client.Annotations.Create(ans.attach(actx), createRequest(a))
	cancel()
	if err == nil {
		return annotationID(created.ID), nil
	}
	status := ans.statusOf(err)
	f := classify(err, status, &ans, permCreate)
	f.Reached = ans.wrote.Load() && !refused(status) && !errors.Is(err, authhttp.ErrRedirect)
	f.Unanswered = unanswered(status)
	f.Hopeless = hopeless(err)
	return "", f
}

// Lookup finds an annotation Axiom already holds with the same type,
// datasets, title and time. The SDK's List sends its end bound under the
// name "start", so the query is built here and sent with the SDK's Call.
func (t *Target) Lookup(ctx context.Context, a *annotation.Annotation) (string, error) {
	q := url.Values{}
	for _, d := range a.Datasets {
		q.Add("datasets", d)
	}
	q.Set("start", a.Time.Add(-time.Minute).Format(time.RFC3339Nano))
	q.Set("end", a.Time.Add(time.Minute).Format(time.RFC3339Nano))
	var list []*axiom.Annotation
	var ans answer
	actx, cancel := t.attempt(ctx)
	defer cancel()
	if err := t.client.Call(ans.attach(actx), http.MethodGet, "/v2/annotations?"+q.Encode(), nil, &list); err != nil {
		f := classify(err, ans.statusOf(err), &ans, permRead)
		// As before the split: a lookup gives up at once only on a
		// redirect.
		f.Hopeless = errors.Is(f.Err, authhttp.ErrRedirect)
		return "", f
	}
	for _, found := range list {
		if found != nil && a.Same(&annotation.Annotation{Datasets: found.Datasets, Type: found.Type, Time: found.Time, Title: found.Title}) {
			return annotationID(found.ID), nil
		}
	}
	return "", nil
}

// createRequest is the SDK's form of an annotation.
func createRequest(a *annotation.Annotation) *axiom.AnnotationCreateRequest {
	return &axiom.AnnotationCreateRequest{
		Datasets: a.Datasets, Type: a.Type, Time: a.Time, EndTime: a.EndTime,
		Title: a.Title, Description: a.Description, URL: a.URL,
	}
}

// attempt bounds one request by the attempt timeout.
func (t *Target) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.attemptTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.attemptTimeout)
}

// postAttempt bounds a POST by the attempt timeout only until its request
// is sent; from then on ctx alone bounds it. Axiom may store a request it
// has however late it answers, and sending it again on another connection
// is what would store it twice.
func (t *Target) postAttempt(ctx context.Context, a *answer) (context.Context, context.CancelFunc) {
	actx, cancel := context.WithCancel(ctx)
	if t.attemptTimeout <= 0 {
		return actx, cancel
	}
	timer := time.AfterFunc(t.attemptTimeout, func() {
		if !a.wrote.Load() {
			cancel()
		}
	})
	return actx, func() { timer.Stop(); cancel() }
}

// unanswered says whether a POST that reached Axiom ended without an
// answer from what handled it: none came, or a proxy stopped waiting (408,
// 502, 504). Axiom may then still be storing it.
func unanswered(status int) bool {
	switch status {
	case 0, http.StatusRequestTimeout, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxID bounds an annotation id from Axiom's answer ("ann_…"), which the
// state keeps and the run shows.
const maxID = 128

func annotationID(id string) string { return text.Field(id, maxID) }

// refused says whether an answer's status says that Axiom did not take the
// request: a 4xx other than 408, which a proxy may send after passing the
// request on.
func refused(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout
}

// hopeless says whether trying again within this run cannot help: the
// server's certificate is not trusted, its name does not exist, or it
// answers with a redirect. The entry stays spooled all the same, for a run
// after the fix.
func hopeless(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var dns *net.DNSError
	return errors.Is(err, authhttp.ErrRedirect) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		(errors.As(err, &dns) && dns.IsNotFound)
}
