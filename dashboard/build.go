// Package dashboard makes the Axiom dashboard of deploy runs from the
// traces that cmd/axiom-deploy-annotate exports, creates or updates it
// through Axiom's /v2/dashboards, and reads the fleet's state from the
// same traces for a terminal.
package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// DefaultUID is the dashboard's uid unless one is chosen: running the
// command again updates the same dashboard.
const DefaultUID = "axiom-deploy-annotation"

// DefaultName is the dashboard's name unless one is chosen.
const DefaultName = "NixOS deploys"

// Options say which dashboard to make.
type Options struct {
	// Dataset is the OpenTelemetry traces dataset the runs' spans go to.
	Dataset string
	// UID is the dashboard's stable identifier; DefaultUID when empty.
	UID string
	// Name is its title; DefaultName when empty.
	Name string
	// Message describes the change, for the dashboard's history.
	Message string
}

// Request is the body of a /v2/dashboards create or update.
type Request struct {
	UID       string   `json:"uid"`
	Dashboard Document `json:"dashboard"`
	// Version is the version an update replaces; Apply sets it.
	Version   int64  `json:"version,omitempty"`
	Overwrite bool   `json:"overwrite,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Document is an Axiom dashboard (schemaVersion 2).
type Document struct {
	Name            string       `json:"name"`
	Owner           string       `json:"owner"`
	Description     string       `json:"description,omitempty"`
	Charts          []Chart      `json:"charts"`
	Layout          []LayoutItem `json:"layout"`
	RefreshTime     int          `json:"refreshTime"`
	SchemaVersion   int          `json:"schemaVersion"`
	TimeWindowStart string       `json:"timeWindowStart"`
	TimeWindowEnd   string       `json:"timeWindowEnd"`
}

// Chart is one chart: a Note has Text, the others a Query.
type Chart struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Name  string `json:"name,omitempty"`
	Query *Query `json:"query,omitempty"`
	Text  string `json:"text,omitempty"`
}

// Query is a chart's APL.
type Query struct {
	APL string `json:"apl"`
}

// LayoutItem places chart I on the 12-column grid.
type LayoutItem struct {
	I string `json:"i"`
	X int    `json:"x"`
	Y int    `json:"y"`
	W int    `json:"w"`
	H int    `json:"h"`
}

type placed struct {
	Chart
	x, y, w, h int
}

// Everyone is the owner that makes a dashboard the whole organisation's:
// the only one an API token may create.
const Everyone = "X-AXIOM-EVERYONE"

var (
	uidPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	datasetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// CheckUID says what is wrong with a dashboard uid, nil when nothing is:
// Axiom takes 1 to 128 letters, digits, '-' and '_'.
func CheckUID(uid string) error {
	if !uidPattern.MatchString(uid) {
		return fmt.Errorf("invalid dashboard uid %q: use 1 to 128 letters, digits, '-' and '_'", uid)
	}
	return nil
}

// CheckDataset says what is wrong with name as the traces dataset that
// queries read, or nil.
func CheckDataset(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("no traces dataset: set --traces-dataset to the dataset the runs' spans go to")
	case !datasetPattern.MatchString(name):
		return fmt.Errorf("invalid traces dataset %q: use letters, digits, '-', '_' and '.'", name)
	}
	return nil
}

// Build makes the dashboard for o.Dataset.
func Build(o Options) (Request, error) {
	if o.UID == "" {
		o.UID = DefaultUID
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := CheckDataset(o.Dataset); err != nil {
		return Request{}, err
	}
	switch {
	case CheckUID(o.UID) != nil:
		return Request{}, CheckUID(o.UID)
	case len([]rune(o.Name)) > 100:
		return Request{}, fmt.Errorf("dashboard name is longer than 100 characters")
	}
	doc := Document{
		Name:            o.Name,
		Owner:           Everyone,
		RefreshTime:     300,
		SchemaVersion:   2,
		TimeWindowStart: "qr-now-90d",
		TimeWindowEnd:   "qr-now",
	}
	for _, p := range charts(o.Dataset) {
		doc.Charts = append(doc.Charts, p.Chart)
		doc.Layout = append(doc.Layout, LayoutItem{I: p.ID, X: p.x, Y: p.y, W: p.w, H: p.h})
	}
	doc.Description = fmt.Sprintf("Deploy runs from the traces in %s. Made by axiom-deploy-annotate dashboard (%s %s).",
		o.Dataset, fingerprintLabel, fingerprint(doc))
	return Request{UID: o.UID, Dashboard: doc, Message: o.Message}, nil
}

// JSON is the request body as sent.
func (r Request) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}

// Queries is each chart's APL by chart id.
func (r Request) Queries() map[string]string {
	m := map[string]string{}
	for _, c := range r.Dashboard.Charts {
		if c.Query != nil {
			m[c.ID] = c.Query.APL
		}
	}
	return m
}

const fingerprintLabel = "fingerprint"

// fingerprint sums what the dashboard shows: its name, charts and
// layout, read as this package writes them, so that unknown keys Axiom
// adds do not change it and an edit made in Axiom does.
func fingerprint(d Document) string {
	b, _ := json.Marshal(struct {
		Name   string
		Charts []Chart
		Layout []LayoutItem
	}{d.Name, d.Charts, d.Layout})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// edited says whether d was changed since this package wrote it: its
// description's fingerprint no longer matches what it shows, or it has
// none (someone else's dashboard under the same uid).
func edited(d Document) bool {
	_, after, ok := strings.Cut(d.Description, "("+fingerprintLabel+" ")
	if !ok {
		return true
	}
	got, _, _ := strings.Cut(after, ")")
	return got != fingerprint(d)
}
