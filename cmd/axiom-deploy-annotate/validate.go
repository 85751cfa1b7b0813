package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/render"
	"github.com/bdsqqq/axiom-deploy-annotation/dashboard"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/authhttp"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// minTimeout is the shortest deadline in which a run can do anything.
const minTimeout = time.Second

// datasetPattern is what Axiom accepts as a dataset name.
var datasetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (c *config) settings() render.Settings {
	return render.Settings{Datasets: c.Datasets, Type: c.Type, RepositoryURL: c.RepositoryURL}
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
	if _, err := axiomclient.APIBase(c.APIEndpoint); err != nil {
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
	if err := render.CheckHostname(c.Hostname); err != nil {
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
	if err := checkCommitTime(c.CommitTime.t, time.Now()); err != nil {
		return err
	}
	if c.SpoolLimit < 1 {
		return fmt.Errorf("invalid spool limit %d: want 1 or more", c.SpoolLimit)
	}
	return nil
}

// commitTimeAhead is how far in the future a commit time may be: clocks
// differ, but not by days.
const commitTimeAhead = 24 * time.Hour

// checkCommitTime refuses a commit time before 1970 or more than a day
// after now.
func checkCommitTime(t *time.Time, now time.Time) error {
	switch {
	case t == nil:
		return nil
	case t.Unix() < 0:
		return fmt.Errorf("invalid commit time %d: want Unix seconds, 0 or more", t.Unix())
	case t.After(now.Add(commitTimeAhead)):
		return fmt.Errorf("invalid commit time %d (%s): more than a day in the future", t.Unix(), t.UTC().Format(time.RFC3339))
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
