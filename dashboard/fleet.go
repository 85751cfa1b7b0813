package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"github.com/axiomhq/axiom-go/axiom/query"
)

// DefaultSince is how far back the fleet view looks unless told.
const DefaultSince = 30 * 24 * time.Hour

// StaleAfter is how long without a deploy marks a host.
const StaleAfter = 30 * 24 * time.Hour

// Host is one host's state as its runs' spans tell it.
type Host struct {
	Host string `json:"host"`
	// Generation is nil after a test activation (or when unknown).
	Generation *int64    `json:"generation"`
	Revision   string    `json:"revision,omitempty"`
	Label      string    `json:"label,omitempty"`
	Deployed   time.Time `json:"deployed"`
	LastRun    time.Time `json:"lastRun"`
	// Outcome is the last outcome of the current deploy's runs.
	Outcome string `json:"outcome"`
	// Spooled is how many deploys the host's last run left spooled.
	Spooled int64 `json:"spooled"`
	// Message is the last run's status message, when it failed.
	Message string `json:"message,omitempty"`

	// Behind: on another revision than the fleet's newest deploy.
	Behind bool `json:"behind"`
	// Failed: the last delivery failed; Held: deploys wait in the spool.
	Failed bool `json:"deliveryFailed"`
	Held   bool `json:"spooledPending"`
	// Stale: not deployed for StaleAfter.
	Stale bool `json:"stale"`
}

// Fleet is every host seen, the most recently deployed first.
type Fleet struct {
	Dataset string    `json:"dataset"`
	Since   time.Time `json:"since"`
	Now     time.Time `json:"now"`
	// Newest is the revision of the fleet's most recent deploy.
	Newest string `json:"newestRevision,omitempty"`
	Hosts  []Host `json:"hosts"`
}

// FleetQuery is the APL the fleet view sends: one row per deploy of each
// host, with what its latest run said.
func FleetQuery(dataset string) string {
	return runs(dataset,
		"extend host = "+fHost+", deployment = "+fDeployment+", generation = "+fGeneration+", revision = "+fRevision+
			", label = "+fLabel+", outcome = "+fOutcome+", spooled = "+fSpooled+", message = tostring(['status.message'])",
		"summarize deployed = min(_time), last_run = max(_time), arg_max(_time, generation, revision, label, outcome, spooled, message) by host, deployment",
	)
}

// QueryFleet asks Axiom for the fleet's state over the last since.
func QueryFleet(ctx context.Context, c *axiom.Client, dataset string, since time.Duration, now time.Time) (Fleet, error) {
	if !datasetPattern.MatchString(dataset) {
		return Fleet{}, fmt.Errorf("invalid traces dataset %q: use letters, digits, '-', '_' and '.'", dataset)
	}
	if since <= 0 {
		since = DefaultSince
	}
	start := now.Add(-since)
	res, err := c.Datasets.Query(ctx, FleetQuery(dataset), query.SetStartTime(start), query.SetEndTime(now))
	if err != nil {
		return Fleet{}, queryError(dataset, err)
	}
	var t query.Table
	if len(res.Tables) > 0 {
		t = res.Tables[0]
	}
	f, err := fleetFromTable(t, now)
	f.Dataset, f.Since = dataset, start
	return f, err
}

func queryError(dataset string, err error) error {
	var he axiom.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("the Axiom token was refused: check the token")
		case http.StatusForbidden:
			return fmt.Errorf("the Axiom token may not query dataset %q: give it the query (read) permission on it", dataset)
		case http.StatusNotFound:
			return fmt.Errorf("no dataset %q in Axiom: check --traces-dataset", dataset)
		}
	}
	return fmt.Errorf("query dataset %q: %w", dataset, err)
}

// row is one deploy of one host as FleetQuery returns it.
type row struct {
	host, revision, label, outcome, message string
	generation                              *int64
	spooled                                 int64
	deployed, lastRun                       time.Time
}

// fleetFromTable reads FleetQuery's tabular answer (column-major: field
// i names column i) into hosts, and marks them.
func fleetFromTable(t query.Table, now time.Time) (Fleet, error) {
	col := map[string]query.Column{}
	for i, f := range t.Fields {
		if i < len(t.Columns) {
			col[f.Name] = t.Columns[i]
		}
	}
	n := 0
	if c, ok := col["host"]; ok {
		n = len(c)
	}
	for _, need := range []string{"host", "deployed", "last_run"} {
		if _, ok := col[need]; !ok && n > 0 {
			return Fleet{}, fmt.Errorf("axiom's answer lacks the %s column", need)
		}
	}
	byHost := map[string][]row{}
	for i := range n {
		var r row
		r.host = text(col["host"], i)
		if r.host == "" {
			continue
		}
		var err error
		if r.deployed, err = when(col["deployed"], i); err != nil {
			return Fleet{}, err
		}
		if r.lastRun, err = when(col["last_run"], i); err != nil {
			return Fleet{}, err
		}
		r.revision, r.label = text(col["revision"], i), text(col["label"], i)
		r.outcome, r.message = text(col["outcome"], i), text(col["message"], i)
		r.generation = number(col["generation"], i)
		if s := number(col["spooled"], i); s != nil {
			r.spooled = *s
		}
		byHost[r.host] = append(byHost[r.host], r)
	}
	f := Fleet{Now: now}
	var newest time.Time
	for name, rs := range byHost {
		cur := slices.MaxFunc(rs, func(a, b row) int { return a.deployed.Compare(b.deployed) })
		last := slices.MaxFunc(rs, func(a, b row) int { return a.lastRun.Compare(b.lastRun) })
		h := Host{
			Host: name, Generation: cur.generation, Revision: cur.revision, Label: cur.label,
			Deployed: cur.deployed, LastRun: last.lastRun, Outcome: cur.outcome, Spooled: last.spooled,
		}
		h.Failed = cur.outcome == "error"
		h.Held = last.spooled > 0 || cur.outcome == "spooled"
		if h.Failed || h.Held {
			h.Message = cur.message
		}
		h.Stale = now.Sub(h.Deployed) > StaleAfter
		if h.Revision != "" && h.Deployed.After(newest) {
			newest, f.Newest = h.Deployed, h.Revision
		}
		f.Hosts = append(f.Hosts, h)
	}
	for i := range f.Hosts {
		f.Hosts[i].Behind = f.Hosts[i].Revision != "" && f.Hosts[i].Revision != f.Newest
	}
	slices.SortFunc(f.Hosts, func(a, b Host) int {
		if c := b.Deployed.Compare(a.Deployed); c != 0 {
			return c
		}
		return strings.Compare(a.Host, b.Host)
	})
	return f, nil
}

func text(c query.Column, i int) string {
	if i >= len(c) || c[i] == nil {
		return ""
	}
	if s, ok := c[i].(string); ok {
		return s
	}
	return fmt.Sprint(c[i])
}

func number(c query.Column, i int) *int64 {
	if i >= len(c) {
		return nil
	}
	var v int64
	switch x := c[i].(type) {
	case float64:
		// JSON's numbers are floats: only a whole one that a float holds
		// exactly is a count; 1e300 is none, not -9223372036854775808.
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return nil
		}
		v = int64(x)
	case int64:
		v = x
	case int:
		v = int64(x)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil
		}
		v = n
	default:
		return nil
	}
	return &v
}

func when(c query.Column, i int) (time.Time, error) {
	s := text(c, i)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("axiom's answer has a time %q that is not RFC 3339", s)
	}
	return t, nil
}
