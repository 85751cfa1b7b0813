package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/axiomhq/axiom-go/axiom"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
)

// Status is what Apply did with one monitor.
type Status string

const (
	Created   Status = "created"
	Updated   Status = "updated"
	Unchanged Status = "unchanged"
	// Kept: edited in Axiom since it was made here, and left as it is.
	Kept Status = "kept"
	// Duplicate: another copy of a monitor made here; left alone.
	Duplicate Status = "duplicate"
	// Obsolete: made here by a version that defined it; this one does
	// not, and leaves it alone.
	Obsolete Status = "obsolete"
)

// Result is what Apply did with one monitor.
type Result struct {
	Key, Name, ID string
	Status        Status
	// Overwritten: edits made in Axiom were replaced (force).
	Overwritten bool
	// Stale: kept with edits made in Axiom, though this version would
	// change it.
	Stale bool
}

// ErrEdited is returned when a monitor edited in Axiom since it was made
// here would have been updated, and force was not given.
var ErrEdited = errors.New("edited in Axiom")

// PermissionError is Axiom refusing the token: unknown (401), or without
// the permission to Op (read, create, update) What (monitors, notifiers).
type PermissionError struct {
	Op, What string
	Status   int
}

func (e *PermissionError) Error() string {
	if e.Status == http.StatusUnauthorized {
		return "the Axiom token was refused: check the token"
	}
	if e.What == "notifiers" {
		return "the Axiom token may not read notifiers: give it the notifiers read permission, or leave out --notifier"
	}
	return fmt.Sprintf("the Axiom token may not %s monitors: give it the monitors permission (read, create and update)", e.Op)
}

// Apply makes the monitors in defs exist in Axiom as defined. It lists the
// monitors and finds those made here for the same dataset by the line in
// their description; it creates the missing, updates those this version
// defines differently (in place, same id), leaves the unchanged alone, and
// never touches a monitor it did not make. One edited in Axiom since it
// was made here is kept unless force: as it is, when this version defines
// it as before, else with ErrEdited once the others are done.
func Apply(ctx context.Context, c *axiom.Client, dataset string, defs []Definition, force bool) ([]Result, error) {
	all, err := c.Monitors.List(ctx)
	if err != nil {
		return nil, apiError("read", "", err)
	}
	ours := map[string][]*axiom.Monitor{}
	for _, m := range all {
		if k, ok := markOf(m.Description); ok && k.dataset == dataset {
			ours[k.key] = append(ours[k.key], m)
		}
	}
	var results []Result
	var stale []string
	for _, d := range defs {
		found := ours[d.Key]
		delete(ours, d.Key)
		r, err := apply(ctx, c, d, found, force)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		if r.Stale {
			stale = append(stale, fmt.Sprintf("%q (%s)", r.Name, r.ID))
		}
		for _, dup := range found[min(1, len(found)):] {
			results = append(results, Result{Key: d.Key, Name: text.Line(dup.Name), ID: text.Line(dup.ID), Status: Duplicate})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ours)) {
		for _, m := range ours[k] {
			results = append(results, Result{Key: k, Name: text.Line(m.Name), ID: text.Line(m.ID), Status: Obsolete})
		}
	}
	if len(stale) > 0 {
		return results, fmt.Errorf("monitor %s %w since axiom-deploy-annotate made it, and kept: --force replaces the edits with this version's", strings.Join(stale, ", "), ErrEdited)
	}
	return results, nil
}

// apply brings one monitor to d: found are the monitors made for it
// before, the oldest first.
func apply(ctx context.Context, c *axiom.Client, d Definition, found []*axiom.Monitor, force bool) (Result, error) {
	r := Result{Key: d.Key, Name: d.Monitor.Name}
	if len(found) == 0 {
		m, err := c.Monitors.Create(ctx, axiom.MonitorCreateRequest{Monitor: d.Monitor})
		if err != nil {
			return r, apiError("create", d.Monitor.Name, err)
		}
		r.ID, r.Status = text.Line(m.ID), Created
		return r, nil
	}
	cur := found[0]
	r.ID = text.Line(cur.ID)
	made, _ := markOf(cur.Description)
	want, _ := markOf(d.Monitor.Description)
	edited := fingerprint(*cur) != made.fingerprint
	changed := want.fingerprint != made.fingerprint
	switch {
	case !edited && !changed:
		r.Status = Unchanged
		return r, nil
	case edited && !force:
		r.Status, r.Name, r.Stale = Kept, text.Line(cur.Name), changed
		return r, nil
	}
	m := d.Monitor
	// A pause someone set in Axiom stays.
	m.DisabledUntil = cur.DisabledUntil
	if _, err := c.Monitors.Update(ctx, cur.ID, axiom.MonitorUpdateRequest{Monitor: m}); err != nil {
		return r, apiError("update", d.Monitor.Name, err)
	}
	r.Status, r.Overwritten = Updated, edited
	return r, nil
}

// CheckNotifiers says which of ids Axiom has no notifier for, naming the
// ones it has.
func CheckNotifiers(ctx context.Context, c *axiom.Client, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	all, err := c.Notifiers.List(ctx)
	if err != nil {
		var he axiom.HTTPError
		if errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized) {
			return &PermissionError{Op: "read", What: "notifiers", Status: he.Status}
		}
		return fmt.Errorf("list notifiers: %w", err)
	}
	var known []string
	for _, n := range all {
		known = append(known, fmt.Sprintf("%s (%s)", text.Line(n.ID), text.Line(n.Name)))
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(n *axiom.Notifier) bool { return n.ID == id }) {
			if len(known) == 0 {
				return fmt.Errorf("no notifier %q in Axiom, which has none: make one under Monitors, Notifiers", id)
			}
			return fmt.Errorf("no notifier %q in Axiom; it has %s", id, strings.Join(known, ", "))
		}
	}
	return nil
}

// apiError turns an Axiom error into one line that says what to do.
func apiError(op, name string, err error) error {
	var he axiom.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &PermissionError{Op: op, What: "monitors", Status: he.Status}
		case http.StatusBadRequest:
			return fmt.Errorf("axiom refused monitor %q: %s", name, text.Line(he.Message))
		}
	}
	if name == "" {
		return fmt.Errorf("%s monitors: %w", op, err)
	}
	return fmt.Errorf("%s monitor %q: %w", op, name, err)
}

// The line that ends the description of a monitor made here, naming its
// key, its dataset and the fingerprint of what it was made as.
var markPattern = regexp.MustCompile(`\n*Made by axiom-deploy-annotate monitors \(([a-z0-9-]+) on ([A-Za-z0-9][A-Za-z0-9_.-]*), fingerprint ([0-9a-f]{16})\)\.\s*$`)

type marked struct{ key, dataset, fingerprint string }

func mark(key, dataset, fingerprint string) string {
	return fmt.Sprintf("Made by axiom-deploy-annotate monitors (%s on %s, fingerprint %s).", key, dataset, fingerprint)
}

// markOf reads the line that marks a monitor as made here.
func markOf(description string) (marked, bool) {
	m := markPattern.FindStringSubmatch(description)
	if m == nil {
		return marked{}, false
	}
	return marked{m[1], m[2], m[3]}, true
}

// fingerprint sums what a monitor does, as this package sets it and the
// SDK reads it back: what Axiom adds or keeps of its own (ids, times, a
// pause) does not change it, an edit made in Axiom does. A MatchEvent
// monitor's comparison means nothing, and is left out.
func fingerprint(m axiom.Monitor) string {
	description := strings.TrimSpace(markPattern.ReplaceAllString(m.Description, ""))
	notifiers := slices.Clone(m.NotifierIDs)
	slices.Sort(notifiers)
	f := struct {
		Name, Description, Type, APL           string
		Interval, Range, Delay                 int64
		Operator                               string
		Threshold                              float64
		NotifyByGroup, AlertOnNoData, Disabled bool
		TriggerFromNRuns                       int64
		Notifiers                              []string
	}{m.Name, description, m.Type.String(), m.APLQuery,
		int64(m.Interval.Minutes()), int64(m.Range.Minutes()), int64(m.Delay.Seconds()),
		m.Operator.String(), m.Threshold, m.NotifyByGroup, m.AlertOnNoData, m.Disabled, m.TriggerFromNRuns, notifiers}
	if m.Type == axiom.MonitorTypeMatchEvent {
		f.Operator, f.Threshold, f.NotifyByGroup, f.AlertOnNoData, f.TriggerFromNRuns = "", 0, false, false, 0
	}
	if f.Notifiers == nil {
		f.Notifiers = []string{}
	}
	b, _ := json.Marshal(f)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
