package monitor

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/reference"
)

// TestMonitorsReference checks docs/monitors.md against the monitors'
// definitions: the table lists each monitor, in order, and so do the
// sections that say what each one means; the flags table gives the
// defaults.
func TestMonitorsReference(t *testing.T) {
	defs, err := Build(Options{Dataset: "deploy-traces"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range defs {
		want = append(want, d.Monitor.Name)
	}
	file := reference.File(t, "docs/monitors.md")
	var listed []string
	for _, r := range reference.Rows(reference.Read(t, file, "monitors")) {
		listed = append(listed, r[0])
	}
	if !slices.Equal(listed, want) {
		t.Errorf("docs/monitors.md's table lists the monitors\n%q\nthe definitions are\n%q", listed, want)
	}
	var explained []string
	for _, m := range regexp.MustCompile(`(?m)^### (.+)$`).FindAllStringSubmatch(reference.Read(t, file, "monitor-sections"), -1) {
		explained = append(explained, m[1])
	}
	if !slices.Equal(explained, want) {
		t.Errorf("docs/monitors.md explains the monitors\n%q\nthe definitions are\n%q", explained, want)
	}

	defaults := map[string]time.Duration{
		"--spooled-after": DefaultSpooledAfter,
		"--silent-after":  DefaultSilentAfter,
		"--behind-after":  DefaultBehindAfter,
	}
	for _, r := range reference.Rows(reference.Read(t, file, "monitor-flags")) {
		flag := strings.Fields(strings.Trim(r[0], "`"))[0]
		want, ok := defaults[flag]
		if !ok {
			continue
		}
		delete(defaults, flag)
		if got, err := time.ParseDuration(strings.Trim(r[1], "`")); err != nil || got != want {
			t.Errorf("docs/monitors.md gives %s a default of %s; it is %s", flag, r[1], want)
		}
	}
	for flag := range defaults {
		t.Errorf("docs/monitors.md's flags table has no %s", flag)
	}
}
