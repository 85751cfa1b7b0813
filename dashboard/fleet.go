package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"github.com/axiomhq/axiom-go/axiom/query"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomclient"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// DefaultSince is how far back the fleet view looks unless told.
const DefaultSince = 30 * 24 * time.Hour

// StaleAfter is how long without a deploy marks a host.
const StaleAfter = 30 * 24 * time.Hour

// MaxHosts is the most hosts the fleet view shows. The query asks for one
// row more, so that a larger fleet is known to be cut (Axiom answers 1,000
// rows unless a query asks for more).
const MaxHosts = 50000

// Host is one host's state as its runs' spans tell it: its system's, or
// a user's Home Manager generations there (Host "alice@laptop (hm)",
// Scope "home-manager").
type Host struct {
	Host  string `json:"host"`
	Scope string `json:"scope"`
	// Generation is nil after a test activation (Test), or when unknown.
	Generation *int64    `json:"generation"`
	Test       bool      `json:"testActivation"`
	Revision   string    `json:"revision,omitempty"`
	Label      string    `json:"label,omitempty"`
	Deployed   time.Time `json:"deployed"`
	LastRun    time.Time `json:"lastRun"`
	// Health is the current deploy's deploy.health: healthy, failed,
	// degraded, unknown; empty when no span said it.
	Health string `json:"health,omitempty"`
	// Outcome is the last outcome of the current deploy's runs.
	Outcome string `json:"outcome"`
	// Spooled is how many deploys the host's latest flush left spooled.
	Spooled int64 `json:"spooled"`
	// Message is the current deploy's last status message, when it failed.
	Message string `json:"message,omitempty"`

	// Behind: on another revision than the fleet's newest deploy.
	Behind bool `json:"behind"`
	// Failed: the last delivery failed; Held: deploys wait in the spool.
	Failed bool `json:"deliveryFailed"`
	Held   bool `json:"spooledPending"`
	// Stale: not deployed for StaleAfter.
	Stale bool `json:"stale"`
	// DeployFailed: the current deploy failed units; Degraded: only units
	// failed before it are still failed.
	DeployFailed bool `json:"deployFailed"`
	Degraded     bool `json:"degraded"`
}

// Fleet is every host seen, the most recently deployed first.
type Fleet struct {
	Dataset string    `json:"dataset"`
	Since   time.Time `json:"since"`
	Now     time.Time `json:"now"`
	// Newest is the revision of the fleet's most recent deploy of a
	// system; NewestHome, of a Home Manager generation. A host is behind
	// when it runs another revision than the newest of its scope.
	Newest     string `json:"newestRevision,omitempty"`
	NewestHome string `json:"newestHomeRevision,omitempty"`
	Hosts      []Host `json:"hosts"`
	// Partial: Axiom said its answer is partial. Truncated: the fleet has
	// more than MaxHosts hosts. Either way Hosts is not the whole fleet.
	Partial   bool `json:"partial,omitempty"`
	Truncated bool `json:"truncated,omitempty"`
}

// Incomplete says why the hosts are not the whole fleet; nil when they are.
func (f Fleet) Incomplete() error {
	switch {
	case f.Partial:
		return fmt.Errorf("axiom's answer is partial: the %d hosts printed are not the whole fleet; try a shorter --since", len(f.Hosts))
	case f.Truncated:
		return fmt.Errorf("the fleet has more than %d hosts: only the first %d by name are printed", MaxHosts, len(f.Hosts))
	}
	return nil
}

// FleetQuery is the APL the fleet view sends: one row per host, ordered by
// name. The deploy rows of runs() and the host's flushes (runs that say
// what they left spooled; the deployment they carry, what the host runs,
// is set aside: CarriesRunning) are reduced per deploy, then
// per host: its latest deploy, the health its spans say, the last outcome
// and message of that deploy's spans, its latest run of any kind, and
// what its latest flush left spooled.
func FleetQuery(dataset string) string {
	return apl(dataset,
		"where name in "+vocab.In(vocab.SpanRun, vocab.SpanDeliver),
		"extend host = "+fHost+", deployment = iff("+carriedRun+", '', "+fDeployment+"), store_path = "+fStorePath+", spooled = "+fSpooled,
		"where isnotempty(host) and (isnotempty(deployment) and isnotempty(store_path) or isempty(deployment) and isnotnull(spooled))",
		"extend deployed = coalesce("+fDeployTime+", _time), generation = "+fGeneration+", test_activation = "+fTest+
			", revision = "+fRevision+", label = "+fLabel+", outcome = "+fOutcome+", message = "+fMessage+", scope = "+fScope+", health = "+fHealth,
		"summarize deployed = min(deployed), last_run = max(_time), "+healthCounts+", "+
			"arg_max(_time, generation, test_activation, revision, label, outcome, message, spooled, scope) by host, deployment",
		"extend flush = isempty(deployment), "+deployHealth,
		"extend rank = iff(flush, datetime(1970-01-01), deployed), flush_spooled = iff(flush, spooled, tolong(0))",
		"summarize deploys = countif(not(flush)), last_run = max(last_run), spooled = sum(flush_spooled), "+
			"arg_max(rank, deployed, generation, test_activation, revision, label, health, outcome, message, scope) by host",
		"where deploys > 0",
		"project host, scope, deployed, last_run, generation, test_activation, revision, label, health, outcome, spooled, message",
		"order by host asc",
		"limit "+strconv.Itoa(MaxHosts+1),
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
	ans, err := runQuery(ctx, c, FleetQuery(dataset), start, now)
	if err != nil {
		return Fleet{}, queryError(dataset, err)
	}
	var t query.Table
	if len(ans.Tables) > 0 {
		t = ans.Tables[0]
	}
	f, err := fleetFromTable(t, now)
	f.Dataset, f.Since, f.Partial = dataset, start, ans.Status.IsPartial
	return f, err
}

// answer is Axiom's tabular answer to an APL query, with the part of its
// status the SDK's query.Result leaves out.
type answer struct {
	Tables []query.Table `json:"tables"`
	Status struct {
		IsPartial bool `json:"isPartial"`
	} `json:"status"`
}

// runQuery sends apl to Axiom's APL endpoint, always with its range.
func runQuery(ctx context.Context, c *axiom.Client, apl string, start, end time.Time) (answer, error) {
	req, err := c.NewRequest(ctx, http.MethodPost, "/v1/datasets/_apl?format=tabular", struct {
		APL       string    `json:"apl"`
		StartTime time.Time `json:"startTime"`
		EndTime   time.Time `json:"endTime"`
	}{apl, start, end})
	if err != nil {
		return answer{}, err
	}
	var ans answer
	_, err = c.Do(req, &ans)
	return ans, err
}

// queryError says in one line, and at most a few hundred bytes of Axiom's
// own words, why the query failed.
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
		return fmt.Errorf("query dataset %q: Axiom answered %d: %s", dataset, he.Status, text.Field(he.Message, maxMessage))
	}
	if errors.Is(err, axiomclient.ErrAnswerTooLarge) {
		return fmt.Errorf("query dataset %q: %w", dataset, axiomclient.ErrAnswerTooLarge)
	}
	return fmt.Errorf("query dataset %q: %s", dataset, text.Field(err.Error(), maxMessage))
}

// The most bytes of a value from Axiom's answer that are shown.
const (
	maxHost     = 253
	maxRevision = 128
	maxLabel    = 128
	maxOutcome  = 32
	maxMessage  = 300
)

// fleetFromTable reads FleetQuery's tabular answer (column-major: field
// i names column i) into hosts, and marks them. Every value is cleaned as
// anything from outside that is shown.
func fleetFromTable(t query.Table, now time.Time) (Fleet, error) {
	col := map[string]query.Column{}
	for i, f := range t.Fields {
		if i < len(t.Columns) {
			col[f.Name] = t.Columns[i]
		}
	}
	n := len(col["host"])
	for _, need := range []string{"host", "deployed"} {
		if _, ok := col[need]; !ok && n > 0 {
			return Fleet{}, fmt.Errorf("axiom's answer lacks the %s column", need)
		}
	}
	f := Fleet{Now: now}
	if n > MaxHosts {
		n, f.Truncated = MaxHosts, true
	}
	byHost := map[string]int{}
	for i := range n {
		h, err := hostAt(col, i, now)
		if err != nil {
			return Fleet{}, err
		}
		if h.Host == "" {
			continue
		}
		// One row per host; should two names clean to one, the latest
		// deploy stands.
		if j, ok := byHost[h.Host]; ok {
			if h.Deployed.After(f.Hosts[j].Deployed) {
				f.Hosts[j] = h
			}
			continue
		}
		byHost[h.Host] = len(f.Hosts)
		f.Hosts = append(f.Hosts, h)
	}
	f.Newest, f.NewestHome = newestRevision(f.Hosts, scopeSystem), newestRevision(f.Hosts, scopeHome)
	for i := range f.Hosts {
		newest := f.Newest
		if f.Hosts[i].Scope == scopeHome {
			newest = f.NewestHome
		}
		f.Hosts[i].Behind = f.Hosts[i].Revision != "" && f.Hosts[i].Revision != newest
	}
	slices.SortFunc(f.Hosts, func(a, b Host) int {
		if c := b.Deployed.Compare(a.Deployed); c != 0 {
			return c
		}
		return strings.Compare(a.Host, b.Host)
	})
	return f, nil
}

// The scopes as a row says them.
const (
	scopeSystem = string(vocab.ScopeSystem)
	scopeHome   = string(vocab.ScopeHomeManager)
)

// newestRevision is the revision of the most recent deploy of a scope.
func newestRevision(hosts []Host, scope string) string {
	var at time.Time
	newest := ""
	for _, h := range hosts {
		if h.Scope == scope && h.Revision != "" && h.Deployed.After(at) {
			at, newest = h.Deployed, h.Revision
		}
	}
	return newest
}

// hostAt reads row i.
func hostAt(col map[string]query.Column, i int, now time.Time) (Host, error) {
	h := Host{
		Host:     text.Field(str(col["host"], i), maxHost),
		Scope:    scopeSystem,
		Revision: text.Field(str(col["revision"], i), maxRevision),
		Label:    text.Field(str(col["label"], i), maxLabel),
		Outcome:  text.Field(str(col["outcome"], i), maxOutcome),
		Health:   text.Field(str(col["health"], i), maxOutcome),
	}
	var err error
	if h.Deployed, err = when(col["deployed"], i); err != nil {
		return Host{}, err
	}
	if h.LastRun, err = when(col["last_run"], i); err != nil {
		return Host{}, err
	}
	if g := count(col["generation"], i); g != nil && *g > 0 {
		h.Generation = g
	}
	test := col["test_activation"]
	h.Test = i < len(test) && test[i] == true
	if s := count(col["spooled"], i); s != nil {
		h.Spooled = *s
	}
	if str(col["scope"], i) == scopeHome {
		h.Scope = scopeHome
	}
	h.DeployFailed = h.Health == string(vocab.HealthFailed)
	h.Degraded = h.Health == string(vocab.HealthDegraded)
	h.Failed = h.Outcome == string(vocab.OutcomeError)
	h.Held = h.Spooled > 0 || h.Outcome == "spooled"
	if h.Failed || h.Held {
		h.Message = text.Field(str(col["message"], i), maxMessage)
	}
	h.Stale = now.Sub(h.Deployed) > StaleAfter
	return h, nil
}

func str(c query.Column, i int) string {
	if i >= len(c) || c[i] == nil {
		return ""
	}
	if s, ok := c[i].(string); ok {
		return s
	}
	return fmt.Sprint(c[i])
}

// maxExact is the largest integer a JSON number decoded as float64 holds
// exactly.
const maxExact = 1 << 53

// count reads a whole number of at least zero (a generation, a count),
// nil when the value is none: missing, negative, fractional, or too
// large to be one.
func count(c query.Column, i int) *int64 {
	if i >= len(c) {
		return nil
	}
	var v int64
	switch x := c[i].(type) {
	case float64:
		if x < 0 || x > maxExact || x != float64(int64(x)) {
			return nil
		}
		v = int64(x)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 0 || n > maxExact {
			return nil
		}
		v = n
	default:
		return nil
	}
	return &v
}

func when(c query.Column, i int) (time.Time, error) {
	s := str(c, i)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("axiom's answer has a time %q that is not RFC 3339", text.Field(s, 40))
	}
	return t, nil
}
