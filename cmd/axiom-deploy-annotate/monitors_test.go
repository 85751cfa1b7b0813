package main

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

type scriptCmd = func(ts *testscript.TestScript, neg bool, args []string)

// with is cmds and more, in one map.
func with(more, cmds map[string]scriptCmd) map[string]scriptCmd {
	maps.Copy(cmds, more)
	return cmds
}

// monitorCmds are the test script commands about monitors:
//
//	monitors N               the fake holds N monitors
//	notifier VAR NAME        the fake gets a notifier NAME; $VAR is its id
//	addmonitor NAME          someone makes a monitor NAME in Axiom
//	editmonitor NAME         someone raises monitor NAME's threshold by 1 in Axiom
//	monitor NAME FIELD RE    monitor NAME's id, threshold, notifiers, query or
//	                         description matches RE
var monitorCmds = map[string]scriptCmd{
	"monitors": func(ts *testscript.TestScript, neg bool, args []string) {
		want, _ := strconv.Atoi(args[0])
		if got := len(fake(ts).Monitors()); got != want {
			ts.Fatalf("fake Axiom holds %d monitors, want %d", got, want)
		}
	},
	"notifier": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Setenv(args[0], fake(ts).AddNotifier(args[1], "oncall@example.com"))
	},
	"addmonitor": func(ts *testscript.TestScript, neg bool, args []string) {
		fake(ts).AddMonitor(fakeaxiom.Monitor{Name: args[0], Type: "Threshold", Description: "someone's",
			APLQuery: "['logs'] | summarize count()", Operator: "Above", Threshold: 10, IntervalMinutes: 5, RangeMinutes: 5})
	},
	"editmonitor": func(ts *testscript.TestScript, neg bool, args []string) {
		m := monitorNamed(ts, args[0])
		ts.Check(fake(ts).EditMonitor(m.ID, func(m *fakeaxiom.Monitor) { m.Threshold++ }))
	},
	"monitor": func(ts *testscript.TestScript, neg bool, args []string) {
		m := monitorNamed(ts, args[0])
		got := map[string]string{"id": m.ID, "threshold": fmt.Sprint(m.Threshold), "notifiers": strings.Join(m.NotifierIDs, ","),
			"query": m.APLQuery, "description": m.Description, "range": fmt.Sprint(m.RangeMinutes)}[args[1]]
		if regexp.MustCompile(args[2]).MatchString(got) == neg {
			ts.Fatalf("monitor %q %s = %q; match %q: %v", args[0], args[1], got, args[2], !neg)
		}
	},
}

func fake(ts *testscript.TestScript) *fakeaxiom.Server { return ts.Value("axiom").(*fakeaxiom.Server) }

func monitorNamed(ts *testscript.TestScript, name string) fakeaxiom.Monitor {
	for _, m := range fake(ts).Monitors() {
		if m.Name == name {
			return m
		}
	}
	ts.Fatalf("no monitor %q", name)
	return fakeaxiom.Monitor{}
}
