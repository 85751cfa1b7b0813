package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// minTimeout is the shortest deadline in which a run can do anything.
const minTimeout = time.Second

// datasetPattern is what Axiom accepts as a dataset name.
var datasetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (c *config) settings() annotator.Settings {
	return annotator.Settings{Datasets: c.Datasets, Type: c.Type, RepositoryURL: c.RepositoryURL}
}

func (c *config) validate() error {
	seen := map[string]bool{}
	for _, d := range c.Datasets {
		switch {
		case strings.TrimSpace(d) == "":
			return errors.New("empty dataset name")
		case !datasetPattern.MatchString(d):
			return fmt.Errorf("invalid dataset name %q: use letters, digits, '.', '-' and '_'", d)
		case seen[d]:
			return fmt.Errorf("dataset %q is named twice", d)
		}
		seen[d] = true
	}
	if c.TracesDataset != "" && !datasetPattern.MatchString(c.TracesDataset) {
		return fmt.Errorf("invalid traces dataset name %q: use letters, digits, '.', '-' and '_'", c.TracesDataset)
	}
	if err := c.settings().Validate(); err != nil {
		return err
	}
	if err := checkEndpoint("API endpoint", c.APIEndpoint); err != nil {
		return err
	}
	if _, err := annotator.APIBase(c.APIEndpoint); err != nil {
		return err
	}
	if c.TracesEndpoint != "" {
		if err := checkEndpoint("traces endpoint", c.TracesEndpoint); err != nil {
			return err
		}
	}
	if err := c.validateScope(); err != nil {
		return err
	}
	for name, p := range map[string]string{"profile": c.Profile, "current system": c.CurrentSystem, "state directory": c.StateDir, "token file": c.TokenFile} {
		if p == "" {
			return fmt.Errorf("empty %s path", name)
		}
	}
	if strings.IndexFunc(c.OrgID, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		// It goes in a header, which could not carry it.
		return fmt.Errorf("invalid org id %q: use printable ASCII without spaces", c.OrgID)
	}
	if err := annotator.CheckHostname(c.Hostname); err != nil {
		return err
	}
	if c.DashboardUID != "" {
		if err := dashboard.CheckUID(c.DashboardUID); err != nil {
			return err
		}
	}
	if time.Duration(c.Timeout) < minTimeout {
		return fmt.Errorf("invalid timeout %s: want %s or more", time.Duration(c.Timeout), minTimeout)
	}
	if c.SpoolLimit < 1 {
		return fmt.Errorf("invalid spool limit %d: want 1 or more", c.SpoolLimit)
	}
	return nil
}

// checkEndpoint allows https, and plain http only to a loopback address,
// where no token crosses a network. It never repeats credentials a URL
// holds, and refuses parts that would be dropped.
func checkEndpoint(what, raw string) error {
	// An error repeats the URL without what may be a credential (text.URL).
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("invalid %s %q: want an https URL", what, text.URL(raw))
	case u.User != nil:
		return fmt.Errorf("invalid %s %q: it holds credentials; the token goes in the token file", what, text.URL(raw))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("invalid %s %q: a fragment would be dropped", what, text.URL(raw))
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("invalid %s %q: a query would be dropped", what, text.URL(raw))
	}
	if authhttp.TokenMayGo(u) {
		return nil
	}
	return fmt.Errorf("invalid %s %q: must be https (plain http only to a loopback address)", what, text.URL(raw))
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
	if err := annotator.CheckToken(t); err != nil {
		return "", fmt.Errorf("token file %s: %v", path, err)
	}
	return t, nil
}
