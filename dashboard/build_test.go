package dashboard

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

func build(t *testing.T) Request {
	t.Helper()
	r, err := Build(Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func validate(t *testing.T, body []byte) error {
	t.Helper()
	return fakeaxiom.Validate("DashboardUpsertRequest", body)
}

func TestBuildValidates(t *testing.T) {
	r := build(t)
	body, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, body); err != nil {
		t.Fatalf("the body does not validate against DashboardUpsertRequest: %v\n%s", err, body)
	}
	// An update, as Apply sends it, validates too.
	r.Version, r.Overwrite, r.Message = 7, true, "axiom-deploy-annotate 1.0"
	body, _ = json.Marshal(r)
	if err := validate(t, body); err != nil {
		t.Fatalf("an update does not validate: %v", err)
	}
	var top map[string]any
	json.Unmarshal(body, &top)
	for _, k := range []string{"uid", "dashboard", "version", "overwrite", "message"} {
		if _, ok := top[k]; !ok {
			t.Errorf("no %s in %s", k, body)
		}
	}
}

// The validator is not a yes-man: what Axiom refuses, it refuses.
func TestValidatorRefuses(t *testing.T) {
	r := build(t)
	for name, change := range map[string]func(*Request){
		"unknown chart type": func(r *Request) { r.Dashboard.Charts[1].Type = "Gauge" },
		"x past the grid":    func(r *Request) { r.Dashboard.Layout[0].X = 12 },
		"refresh time":       func(r *Request) { r.Dashboard.RefreshTime = 30 },
		"note without text":  func(r *Request) { r.Dashboard.Charts[0].Text = "" },
	} {
		c := r
		c.Dashboard.Charts = append([]Chart(nil), r.Dashboard.Charts...)
		c.Dashboard.Layout = append([]LayoutItem(nil), r.Dashboard.Layout...)
		change(&c)
		body, _ := json.Marshal(c)
		if err := validate(t, body); err == nil {
			t.Errorf("%s: validates", name)
		}
	}
	if err := validate(t, []byte(`{"dashboard":{"name":"x"},"colour":"red"}`)); err == nil {
		t.Error("a body missing most of the document validates")
	}
}

func TestLayout(t *testing.T) {
	r := build(t)
	d := r.Dashboard
	ids := map[string]bool{}
	for _, c := range d.Charts {
		if ids[c.ID] {
			t.Errorf("chart id %q twice", c.ID)
		}
		ids[c.ID] = true
		if (c.Type == "Note") != (c.Query == nil) {
			t.Errorf("chart %s: a %s with query %v", c.ID, c.Type, c.Query)
		}
	}
	placed := map[string]int{}
	var grid [][12]string
	for _, l := range d.Layout {
		placed[l.I]++
		if !ids[l.I] {
			t.Errorf("layout places %q, which is no chart", l.I)
		}
		if l.X < 0 || l.W < 1 || l.X+l.W > 12 || l.Y < 0 || l.H < 1 {
			t.Errorf("%s at x %d w %d y %d h %d is off the 12-column grid", l.I, l.X, l.W, l.Y, l.H)
			continue
		}
		for y := l.Y; y < l.Y+l.H; y++ {
			for len(grid) <= y {
				grid = append(grid, [12]string{})
			}
			for x := l.X; x < l.X+l.W; x++ {
				if o := grid[y][x]; o != "" {
					t.Errorf("%s overlaps %s at x %d y %d", l.I, o, x, y)
				}
				grid[y][x] = l.I
			}
		}
	}
	for id := range ids {
		if placed[id] != 1 {
			t.Errorf("chart %s placed %d times", id, placed[id])
		}
	}
	// Top down: the note, then the fleet.
	if d.Charts[0].Type != "Note" || d.Layout[0].Y != 0 || d.Charts[1].ID != "fleet-now" {
		t.Errorf("the dashboard does not open with the note and the fleet: %s, %s", d.Charts[0].ID, d.Charts[1].ID)
	}
}

// The charts the issue asks for are there, and each query starts from
// the dataset and follows the time picker.
func TestCharts(t *testing.T) {
	r := build(t)
	q := r.Queries()
	for _, id := range []string{"fleet-now", "rollouts", "revisions-now", "deploys", "outcomes", "problems", "run-time",
		"changes", "closure-size", "stale-hosts", "frequency", "lead-time", "change-failure", "time-to-restore", "change-failure-hosts"} {
		if q[id] == "" {
			t.Errorf("no %s chart", id)
		}
	}
	timeFilter := regexp.MustCompile(`where[^|]*\b_time\b`)
	for id, apl := range q {
		if !strings.HasPrefix(apl, "['deploy-traces']\n| ") {
			t.Errorf("%s does not start from the dataset:\n%s", id, apl)
		}
		if timeFilter.MatchString(apl) || strings.Contains(apl, "ago(") && id != "stale-hosts" {
			t.Errorf("%s filters on time instead of following the picker:\n%s", id, apl)
		}
	}
	for _, want := range []string{"arg_max(", "tolong(duration) / 1e9", "percentiles_array(seconds, 50, 95)", "'discover'", "'deliver'"} {
		if !strings.Contains(q["fleet-now"]+q["run-time"], want) {
			t.Errorf("no %s in the fleet and run time queries", want)
		}
	}
	q["fleet"] = FleetQuery("deploy-traces")
	unsized := regexp.MustCompile(`make_set\(\w+\)|make_set_if\(\w+, \w+\)`)
	for id, apl := range q {
		// Counts are exact: Axiom's dcount estimates.
		if strings.Contains(apl, "dcount") {
			t.Errorf("%s estimates a count:\n%s", id, apl)
		}
		// A set says how many values it keeps (make_set keeps 128).
		if unsized.MatchString(apl) {
			t.Errorf("%s makes a set of unsaid size:\n%s", id, apl)
		}
	}
	// Deploys are counted once each, at their time, from a row per deploy.
	for _, id := range []string{"deploys", "frequency", "lead-time", "change-failure", "time-to-restore", "change-failure-hosts"} {
		if !strings.Contains(q[id], "by host, deployment") || !strings.Contains(q[id], "deployed = min(deployed)") {
			t.Errorf("%s does not count each deploy once at its time:\n%s", id, q[id])
		}
	}
	if !strings.Contains(q["outcomes"], "mode in ('annotate', 'record')") {
		t.Errorf("the outcomes chart counts runs of every mode:\n%s", q["outcomes"])
	}
	for _, c := range r.Dashboard.Charts {
		if c.ID == "run-time" && !strings.Contains(c.Name, "seconds") {
			t.Errorf("the run time chart does not say its unit: %q", c.Name)
		}
	}
	if !strings.Contains(q["rollouts"], "'rollout'") {
		t.Error("the rollouts chart leaves out rollout spans")
	}
	note := r.Dashboard.Charts[0].Text
	for _, want := range []string{"axiom-deploy-annotate dashboard", "`deploy-traces`", "--force"} {
		if !strings.Contains(note, want) {
			t.Errorf("the note does not say %s:\n%s", want, note)
		}
	}
}

func TestBuildOptions(t *testing.T) {
	r, err := Build(Options{Dataset: "tr", UID: "my_dash-1", Name: "Fleet", Message: "why"})
	if err != nil || r.UID != "my_dash-1" || r.Dashboard.Name != "Fleet" || r.Message != "why" || r.Dashboard.Owner != Everyone {
		t.Fatalf("%+v %v", r, err)
	}
	if d := build(t); d.UID != DefaultUID || d.Dashboard.Name != DefaultName {
		t.Errorf("defaults: uid %q name %q", d.UID, d.Dashboard.Name)
	}
	for _, o := range []Options{
		{},
		{Dataset: "a'] | take 1 //"},
		{Dataset: "with space"},
		{Dataset: "tr", UID: "has/slash"},
		{Dataset: "tr", UID: strings.Repeat("u", 129)},
		{Dataset: "tr", Name: strings.Repeat("n", 101)},
	} {
		if _, err := Build(o); err == nil || strings.Contains(err.Error(), "\n") || err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
			t.Errorf("Build(%+v) = %v, want a one-line error", o, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	d := build(t).Dashboard
	if edited(d) {
		t.Fatal("a fresh dashboard counts as edited")
	}
	// What Axiom adds to what it stores does not count as an edit.
	var m map[string]any
	b, _ := json.Marshal(d)
	json.Unmarshal(b, &m)
	m["charts"].([]any)[1].(map[string]any)["tableSettings"] = map[string]any{}
	m["layout"].([]any)[1].(map[string]any)["static"] = false
	b, _ = json.Marshal(m)
	var back Document
	json.Unmarshal(b, &back)
	if edited(back) {
		t.Error("keys Axiom adds count as an edit")
	}
	for name, change := range map[string]func(*Document){
		"query":       func(d *Document) { d.Charts[1].Query = &Query{APL: "['x'] | take 1"} },
		"layout":      func(d *Document) { d.Layout[2].H++ },
		"name":        func(d *Document) { d.Name = "Mine" },
		"description": func(d *Document) { d.Description = "mine" },
	} {
		c := d
		c.Charts = append([]Chart(nil), d.Charts...)
		c.Layout = append([]LayoutItem(nil), d.Layout...)
		change(&c)
		if !edited(c) {
			t.Errorf("changing the %s is not an edit", name)
		}
	}
}

// The four keys of DORA are charts named so, under a note that says how
// each is counted: deploy frequency and lead time (p50 and p90) per week,
// the change failure rate (failed, degraded and rolled-back deploys over
// all) per week and per host, and the time to restore.
func TestDORACharts(t *testing.T) {
	r := build(t)
	q := r.Queries()
	names := map[string]string{}
	var note string
	for _, c := range r.Dashboard.Charts {
		names[c.ID] = c.Name
		if c.ID == "dora" {
			note = c.Text
		}
	}
	for id, key := range map[string]string{"frequency": "deploy frequency", "lead-time": "lead time for changes", "change-failure": "change failure rate",
		"time-to-restore": "time to restore", "change-failure-hosts": "change failure rate and time to restore by host"} {
		if !strings.HasPrefix(names[id], "DORA "+key) {
			t.Errorf("chart %s is named %q, not after the DORA key %q", id, names[id], key)
		}
	}
	for _, want := range []string{"## DORA", "Deploy frequency", "Lead time for changes", "Change failure rate", "Time to restore", "rollback stands for the change it undid"} {
		if !strings.Contains(note, want) {
			t.Errorf("the DORA note does not say %q:\n%s", want, note)
		}
	}
	for id, wants := range map[string][]string{
		"frequency":            {"bin(_time, 7d), host"},
		"lead-time":            {"['deploy.lead_time']", "percentiles_array(hours, 50, 90) by bin(_time, 7d)", "hours = seconds / 3600"},
		"time-to-restore":      {"['deploy.time_to_restore']", "percentiles_array(hours, 50, 90) by bin(_time, 7d)"},
		"change-failure":       {"['deploy.health']", "['nix.rollback']", "failed_change = failed or degraded or rolled_back", "by bin(_time, 7d)"},
		"change-failure-hosts": {"['deploy.health']", "['nix.rollback']", "['deploy.time_to_restore']", "failed_changes = countif(failed_change)", "by host"},
	} {
		for _, want := range wants {
			if !strings.Contains(q[id], want) {
				t.Errorf("%s does not read %s:\n%s", id, want, q[id])
			}
		}
	}
	// Failed and degraded are deploy.health's values; a deploy counts as
	// failed when any of its spans says so.
	for _, want := range []string{"countif(health == 'failed')", "countif(health == 'degraded')", "extend failed = failed_spans > 0, degraded = degraded_spans > 0, rolled_back = rollback > 0"} {
		if !strings.Contains(q["change-failure"], want) {
			t.Errorf("change-failure lacks %s:\n%s", want, q["change-failure"])
		}
	}
}
