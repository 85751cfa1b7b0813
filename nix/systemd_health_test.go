package nix_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/kusto"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// The units that fail on purpose: probe.service runs at every switch (a
// oneshot wanted by multi-user.target) and fails while /srv/axiom/break
// exists; stale.service is wanted by nothing, so no switch starts it: the
// test starts it, and it fails while /srv/axiom/stale exists.
const (
	probeUnit = "probe.service"
	staleUnit = "stale.service"
)

var healthUnits = []unitFile{
	{probeUnit, fmt.Sprintf("[Unit]\nDescription=Fails while %s/break exists\nStartLimitIntervalSec=0\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c '! test -e %s/break'\n", srv, srv)},
	{staleUnit, fmt.Sprintf("[Unit]\nDescription=Fails while %s/stale exists, started by hand\nStartLimitIntervalSec=0\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c '! test -e %s/stale'\n", srv, srv)},
}

type spanView struct {
	Name    string
	Outcome string
	Attrs   map[string]string
}

// deliverOf is the deliver span that settled generation gen's annotation.
func (m *machine) deliverOf(gen int) spanView {
	m.t.Helper()
	var found spanView
	m.await(30*time.Second, fmt.Sprintf("the deliver span of gen %d", gen), func() bool {
		var spans []spanView
		m.do("GET", "/spans", &spans)
		for _, s := range spans {
			if s.Name == "deliver" && s.Outcome == "annotated" && s.Attrs["nix.generation"] == fmt.Sprint(gen) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// judged checks the annotation of the deploy after base (generation gen)
// and its deliver span: the title's end, deploy.health,
// deployment.status, and the units.
func (m *machine) judged(base, gen int, titleEnd, healthStatus, status, failed, already string) {
	m.t.Helper()
	m.awaitAnnotations(base+1, time.Minute)
	m.settle()
	m.annotatedOnce(base, gen)
	a := m.annotations()[base]
	if want := fmt.Sprintf("web-1 gen %d%s", gen, titleEnd); a.Title != want {
		m.t.Errorf("title %q, want %q", a.Title, want)
	}
	for _, u := range strings.Split(failed+", "+already, ", ") {
		if u != "" && !strings.Contains(a.Description, u) {
			m.t.Errorf("the description does not name %s:\n%s", u, a.Description)
		}
	}
	s := m.deliverOf(gen)
	for k, want := range map[string]string{
		"deploy.health": healthStatus, "deployment.status": status,
		"deploy.failed_units": failed, "deploy.already_failed_units": already,
	} {
		if got := s.Attrs[k]; got != want {
			m.t.Errorf("deliver span of gen %d: %s = %q, want %q", gen, k, got, want)
		}
	}
}

// checkHealthFailed: a switch leaves probe.service failed. The flush asks
// systemd over the bus once the switch's jobs are done: the deploy failed,
// and the title, the description and the deliver span name the unit.
func checkHealthFailed(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.c.MustRun("touch", srv+"/break")
	gen, _ := m.switchNext()
	m.judged(base, gen, " failed: "+probeUnit, "failed", "failed", probeUnit, "")
	if s := strings.TrimSpace(m.show("ActiveState", probeUnit)); s != "failed" {
		t.Errorf("%s is %s, want failed", probeUnit, s)
	}
	m.fleetRow(gen, "failed", probeUnit)
}

// checkHealthFixed: the next switch runs probe.service again, and it
// succeeds: the deploy is healthy, its title unmarked.
func checkHealthFixed(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.c.MustRun("rm", "-f", srv+"/break")
	gen, _ := m.switchNext()
	m.judged(base, gen, "", "healthy", "succeeded", "", "")
	m.fleetRow(gen, "healthy", "")
	m.noneFailed()
}

// checkHealthAlreadyFailed: stale.service failed before a switch that does
// not start it, and is failed after: the deploy is degraded, the unit is
// named as failed before it, and the deploy succeeded.
func checkHealthAlreadyFailed(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.c.MustRun("touch", srv+"/stale")
	defer m.c.MustRun("rm", "-f", srv+"/stale")
	defer m.c.MustRun("systemctl", "reset-failed", staleUnit)
	m.c.Run("systemctl", "start", staleUnit)
	if s := strings.TrimSpace(m.show("ActiveState", staleUnit)); s != "failed" {
		t.Fatalf("%s is %s before the switch, want failed", staleUnit, s)
	}
	gen, _ := m.switchNext()
	m.judged(base, gen, " degraded: "+staleUnit, "degraded", "succeeded", "", staleUnit)
	m.fleetRow(gen, "degraded", staleUnit)
}

// fleetRow runs `fleet` against an Axiom on loopback whose answer to the
// fleet query is web-1's row as the query makes it of generation gen's
// deliver span (its deploy time, generation, label, health and outcome),
// the query itself bound by the analyzer on a first deploy's columns, and
// checks the row fleet prints: "deploy failed" for a failed deploy,
// "degraded" for a degraded one, neither for a healthy one.
func (m *machine) fleetRow(gen int, health, units string) {
	m.t.Helper()
	s := m.deliverOf(gen)
	if got := s.Attrs[string(vocab.DeployHealth)]; got != health {
		m.t.Fatalf("deliver span of gen %d: %s = %q, want %q", gen, vocab.DeployHealth, got, health)
	}
	deployed, err := time.Parse(time.RFC3339Nano, s.Attrs[string(vocab.DeployTime)])
	if err != nil {
		m.t.Fatalf("deliver span of gen %d: %s: %v", gen, vocab.DeployTime, err)
	}
	fa := fakeaxiom.New(testToken)
	defer fa.Close()
	fa.SetQueryColumns("deploy-traces", axiomcols.FirstDeploy(), kusto.Start(m.t))
	fields := []fakeaxiom.QueryField{
		{Name: "host", Type: "string"}, {Name: "scope", Type: "string"}, {Name: "deployed", Type: "datetime"},
		{Name: "last_run", Type: "datetime"}, {Name: "generation", Type: "integer"}, {Name: "test_activation", Type: "boolean"},
		{Name: "revision", Type: "string"}, {Name: "label", Type: "string"}, {Name: "health", Type: "string"},
		{Name: "outcome", Type: "string"}, {Name: "spooled", Type: "integer"}, {Name: "message", Type: "string"},
	}
	row := []any{"web-1", "", deployed.Format(time.RFC3339Nano), deployed.Format(time.RFC3339Nano), float64(gen), false,
		"", s.Attrs[string(vocab.NixLabel)], health, s.Outcome, 0.0, nil}
	columns := make([][]any, len(row))
	for i, v := range row {
		columns[i] = []any{v}
	}
	fa.SetQueryResult("deploy-traces", fields, columns...)
	token := filepath.Join(m.t.TempDir(), "token")
	write(m.t, token, testToken+"\n")
	os.Chmod(token, 0o600)
	out, err := exec.Command(m.bin, "fleet", "--traces-dataset", "deploy-traces", "--api-endpoint", fa.URL, "--token-file", token).CombinedOutput()
	if err != nil {
		m.t.Fatalf("fleet: %v\n%s", err, out)
	}
	mark := map[string]string{"failed": "deploy failed", "degraded": "degraded"}[health]
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^web-1 +%d +.*annotated(  +(.*))?$`, gen)).FindStringSubmatch(string(out))
	if line == nil {
		m.t.Fatalf("fleet prints no row for web-1 gen %d:\n%s", gen, out)
	}
	m.t.Logf("fleet: %s", line[0])
	if mark == "" && strings.Contains(line[2], "failed") || mark != "" && !strings.HasPrefix(line[2], mark) {
		m.t.Errorf("fleet's row for web-1 gen %d (%s, %s) says %q, want %q first:\n%s", gen, health, units, line[2], mark, out)
	}
}

// checkHealthNoBus: with the system bus stopped, a switch leaves
// probe.service failed and the flush cannot ask systemd: the deploy is
// unknown, never succeeded: no deployment.status, an unmarked title.
func checkHealthNoBus(t *testing.T, m *machine) {
	base := len(m.annotations())
	// Masked, or the switch would start it again with multi-user.target.
	m.c.MustRun("systemctl", "mask", "--runtime", "--now", "dbus.socket", "dbus.service")
	defer m.c.MustRun("systemctl", "start", "dbus.socket")
	defer m.c.MustRun("systemctl", "unmask", "--runtime", "dbus.socket", "dbus.service")
	m.c.MustRun("touch", srv+"/break")
	defer m.c.MustRun("systemctl", "reset-failed", probeUnit)
	defer m.c.MustRun("rm", "-f", srv+"/break")
	gen, _ := m.switchNext()
	m.judged(base, gen, "", "unknown", "", "", "")
	if s := strings.TrimSpace(m.show("ActiveState", probeUnit)); s != "failed" {
		t.Errorf("%s is %s, want failed", probeUnit, s)
	}
}
