package nix_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The unit that fails on purpose: probe.service runs at every switch (a
// oneshot wanted by multi-user.target) and fails while /srv/axiom/break
// exists.
const (
	probeUnit = "probe.service"
)

var healthUnits = []unitFile{
	{probeUnit, fmt.Sprintf("[Unit]\nDescription=Fails while %s/break exists\nStartLimitIntervalSec=0\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c '! test -e %s/break'\n", srv, srv)},
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

// checkSandboxedHealthUnknown: a switch leaves probe.service failed, and
// the flush, as the module sandboxes it (a dynamic user), cannot ask
// systemd here: Debian's dbus-daemon runs with SYSTEMD_NSS_DYNAMIC_BYPASS
// and ends a dynamic user's connection at its Hello ("Transport endpoint is
// not connected"). The deploy is then unknown, never succeeded: no
// deployment.status, an unmarked title.
func checkSandboxedHealthUnknown(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.c.MustRun("touch", srv+"/break")
	defer m.c.MustRun("systemctl", "reset-failed", probeUnit)
	defer m.c.MustRun("rm", "-f", srv+"/break")
	gen, _ := m.switchNext()
	m.judged(base, gen, "", "unknown", "", "", "")
	if s := strings.TrimSpace(m.show("ActiveState", probeUnit)); s != "failed" {
		t.Errorf("%s is %s, want failed", probeUnit, s)
	}
}
