package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target"
	"github.com/bdsqqq/axiom-deploy-annotation/annotator/target/axiomapi"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// axiomToken is the run's Axiom token, decided once, here: a chosen token
// file, else $AXIOM_TOKEN, else the default token file; checked by
// axiomclient.CheckToken. The error says why there is none to use.
type axiomToken struct {
	decided bool
	value   string
	err     error
}

// token is the run's Axiom token.
func (r *runner) token() (string, error) {
	if !r.tok.decided {
		r.tok.value, r.tok.err = r.decideToken()
		r.tok.decided = true
	}
	return r.tok.value, r.tok.err
}

func (r *runner) decideToken() (string, error) {
	if !r.c.tokenFileSet {
		if t := strings.TrimSpace(os.Getenv("AXIOM_TOKEN")); t != "" {
			return t, axiomclient.CheckToken(t)
		}
	}
	return readToken(r.c.TokenFile, r.budget.deadline, r.log.Warn)
}

// tracesToken is the token the trace export sends: --traces-token-file's,
// else the run's.
func (r *runner) tracesToken() string {
	if r.c.TracesTokenFile == "" {
		t, _ := r.token()
		return t
	}
	t, err := readToken(r.c.TracesTokenFile, r.budget.deadline, r.log.Warn)
	if err != nil {
		r.log.Warn("traces token unusable", "err", err)
	}
	return t
}

// target is where the run's annotations go, Axiom's annotations API with
// the run's token; nil without a usable token, and then the error (which
// wraps axiomclient.ErrNoToken) says why, and deploys stay spooled.
func (r *runner) target() (target.Target, error) {
	t, err := r.token()
	var tg target.Target
	if err == nil {
		tg, err = axiomapi.New(axiomapi.Config{
			Endpoint:       r.c.APIEndpoint,
			Token:          t,
			OrgID:          r.c.OrgID,
			Transport:      otelhttp.NewTransport(http.DefaultTransport),
			AttemptTimeout: r.budget.attempt(),
		})
	}
	if err != nil {
		if !errors.Is(err, axiomclient.ErrNoToken) {
			err = fmt.Errorf("%w: %v", axiomclient.ErrNoToken, err)
		}
		r.log.Warn("nothing will be sent to Axiom", "err", err)
		return nil, err
	}
	return tg, nil
}

// axiomClient is a client of Axiom's API at the scheme and host of
// --api-endpoint, with the run's token: the views'.
func (r *runner) axiomClient() (*axiom.Client, error) {
	t, err := r.token()
	if err != nil {
		return nil, fail(exitUsage, fmt.Errorf("no usable Axiom token: %v", err))
	}
	base, err := axiomclient.APIBase(r.c.APIEndpoint)
	if err != nil {
		return nil, fail(exitUsage, err)
	}
	return axiomclient.New(axiomclient.Options{
		URL:       base,
		Token:     t,
		OrgID:     r.c.OrgID,
		Transport: otelhttp.NewTransport(http.DefaultTransport),
	})
}

// maxTokenFile bounds a token file: a token is under a hundred bytes.
const maxTokenFile = 4096

// readToken reads a token file: surrounding white space trimmed, a warning
// when others may read it. What cannot be a token is a token-file error,
// named as such. A pipe is read until deadline at the latest.
func readToken(path string, deadline time.Time, warn func(msg string, args ...any)) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o004 != 0 {
		warn("token file is readable by every user: chmod o-r it", "file", path)
	}
	b, err := bounded.Read(f, maxTokenFile, deadline)
	switch {
	case errors.Is(err, bounded.ErrTooLarge):
		return "", fmt.Errorf("token file %s is larger than %d bytes: it holds more than a token", path, maxTokenFile)
	case err != nil:
		return "", fmt.Errorf("token file %s: %w", path, err)
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		return "", fmt.Errorf("token file %s starts with a byte-order mark: save it as plain text", path)
	}
	t := strings.TrimSpace(string(b))
	switch {
	case t == "":
		return "", fmt.Errorf("token file %s is empty", path)
	case strings.ContainsAny(t, "\r\n"):
		return "", fmt.Errorf("token file %s holds more than one line: put the token alone in it", path)
	}
	if err := axiomclient.CheckToken(t); err != nil {
		return "", fmt.Errorf("token file %s: %v", path, err)
	}
	return t, nil
}
