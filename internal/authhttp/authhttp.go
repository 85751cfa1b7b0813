// Package authhttp is the one rule for every HTTP request that carries the
// Axiom token (annotations, their lookups, dashboards, queries, trace
// export): the token goes only over https, or over plain http to this
// machine, and only to the endpoint configured. A redirect is never
// followed, whatever its target: Axiom's API does not redirect, and a
// redirect to the same host on plain http would otherwise take the token
// along (Go's client keeps it for the same host name, whatever the scheme
// or port).
package authhttp

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// ErrRedirect is the error of a request answered with a redirect.
var ErrRedirect = errors.New("redirects are not followed, so that the token goes nowhere but the endpoint configured")

// Client is the HTTP client for requests that carry the token: transport
// carries them (nil: http.DefaultTransport), timeout bounds each (0: none),
// and an answer that redirects ends the request with ErrRedirect, the
// request's own URL in the error, the redirect's target shown without
// what may be a credential.
func Client(transport http.RoundTripper, timeout time.Duration) *http.Client {
	if transport == nil {
		transport = http.DefaultTransport
	}
	return &http.Client{Transport: noRedirect{transport}, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		// noRedirect leaves none to follow; this holds should Go follow
		// another status.
		return ErrRedirect
	}}
}

// noRedirect turns an answer that redirects into an error, so that the
// client never builds the request the redirect asks for.
type noRedirect struct{ base http.RoundTripper }

func (t noRedirect) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		resp.Body.Close()
		return nil, fmt.Errorf("answered %d with a redirect to %s: %w", resp.StatusCode, text.URL(resp.Header.Get("Location")), ErrRedirect)
	}
	return resp, nil
}

// TokenMayGo says whether the token may be sent to u: over https, or over
// plain http only to this machine (localhost or a loopback address).
func TokenMayGo(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return true
		}
		ip, err := netip.ParseAddr(h)
		return err == nil && ip.IsLoopback()
	}
	return false
}
