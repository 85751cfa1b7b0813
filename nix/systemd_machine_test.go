package nix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nspawn"
)

// A machine for TestNixOSUnitsSystemdNix: Debian's systemd booted in a
// container with the module's units as NixOS writes them, the host's store,
// a Nix daemon, real generations and a fake Axiom inside.

const (
	recordUnit = "axiom-deploy-annotation.service"
	flushUnit  = "axiom-deploy-annotation-flush.service"
	timerUnit  = "axiom-deploy-annotation-flush.timer"
	stateDir   = "/var/lib/axiom-deploy-annotation"
	cacheDir   = "/var/cache/axiom-deploy-annotation"
	testToken  = "xaat-00000000-0000-0000-0000-000000000000"
	// srv holds the token, the fake Axiom and its control socket.
	srv = "/srv/axiom"
)

var ourUnits = []string{recordUnit, flushUnit, timerUnit}

// machineSettings configure the module as the machine runs it: the fakes
// on loopback, and the token where the test can take it away.
func machineSettings(extra map[string]any) map[string]any {
	s := map[string]any{
		"tokenFile":      srv + "/token",
		"apiEndpoint":    "http://127.0.0.1:8080/v2/annotations",
		"tracesEndpoint": "http://127.0.0.1:4318/v1/traces",
		"hostname":       "web-1",
	}
	maps.Copy(s, extra)
	return map[string]any{"settings": s}
}

type machine struct {
	t        *testing.T
	c        *nspawn.Container
	bin      string // the command, as built for the evaluation
	srv, lib string // host sides of /srv/axiom and /usr/local/lib
	nix      *nixtest.Machine
	systems  []string
	// next is the index of the next system to switch to, shared by the
	// machine's copies.
	next    *int
	control *http.Client
	// exe and config are the command and the configuration file in the
	// store, as the units run them.
	exe, config string
}

// newMachine builds the command, the fake and the systems, renders the
// units, and boots into the first system.
func newMachine(t *testing.T, systems int) *machine {
	t.Helper()
	m := &machine{t: t, srv: t.TempDir(), lib: t.TempDir(), nix: nixtest.NewMachine(t), next: new(int)}
	m.bin = buildCommand(t)
	run(t, "go", "build", "-o", filepath.Join(m.srv, "fakeaxiomd"), "./internal/fakeaxiomd")
	m.writeToken()
	specs := make([]nixtest.System, systems)
	for i := range specs {
		specs[i] = nixtest.System{Host: "web-1", Label: "25.11", Salt: strconv.Itoa(i)}
	}
	m.systems = nixtest.Build(t, specs...)
	m.install(machineSettings(nil), true)
	write(t, filepath.Join(m.lib, "tmpfiles.d", "nixos-current-system.conf"),
		// What NixOS's activation does at boot.
		fmt.Sprintf("L+ /run/current-system - - - - %s\n", m.systems[0]))
	m.nix.Boot(m.systems[0])
	*m.next = 1

	socket := filepath.Join(t.TempDir(), "daemon-socket")
	if err := os.Mkdir(socket, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(m.lib, 0o755)
	m.c = nspawn.Boot(t, nspawn.Root(t),
		nspawn.Bind{Host: "/nix", Container: "/nix"},
		nspawn.Bind{Host: socket, Container: "/nix/var/nix/daemon-socket"},
		nspawn.Bind{Host: filepath.Join(m.nix.Root, "profiles"), Container: "/nix/var/nix/profiles"},
		nspawn.Bind{Host: m.srv, Container: srv},
		nspawn.Bind{Host: m.lib, Container: "/usr/local/lib", ReadOnly: true},
	)
	m.control = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(m.srv, "control.sock"))
		},
	}}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := m.c.Run("journalctl", "--no-pager", "-o", "short-precise", "-u", recordUnit, "-u", flushUnit, "-u", "fake-axiom.service")
			t.Logf("journal:\n%s", out)
		}
	})
	return m
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeToken puts the token where the units look for it, readable by root
// only.
func (m *machine) writeToken() {
	path := filepath.Join(m.srv, "token")
	os.Remove(path)
	if err := os.WriteFile(path, []byte(testToken+"\n"), 0o400); err != nil {
		m.t.Fatal(err)
	}
}

// install evaluates nix/nixos.nix with settings, builds what the units
// run (the configuration file checked by the command, as a native build
// does, when check is set), and writes the units into
// /usr/local/lib/systemd/system with their .wants links, beside the fake
// Axiom's unit.
func (m *machine) install(settings map[string]any, check bool) {
	t := m.t
	t.Helper()
	args := []string{"--argstr", "bin", m.bin, "--arg", "check", strconv.FormatBool(check)}
	var ev struct {
		Services   map[string]map[string]any `json:"services"`
		Timers     map[string]map[string]any `json:"timers"`
		Users      map[string]map[string]any `json:"users"`
		ConfigFile string                    `json:"configFile"`
		Package    string                    `json:"package"`
	}
	evalModule(t, "nixos", settings, &ev, args...)
	run(t, "nix-build", append([]string{"nix/tests/eval.nix", "-A", "package", "-A", "configFile", "--no-out-link",
		"--argstr", "platform", "nixos", "--argstr", "settings", settingsJSON(t, settings)}, args...)...)
	m.exe, m.config = ev.Package+"/bin/axiom-deploy-annotate", ev.ConfigFile

	dir := filepath.Join(m.lib, "systemd", "system")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	files, wants := nixosUnitFiles(t, ev.Services, ev.Timers)
	files = append(files, unitFile{"fake-axiom.service", fmt.Sprintf(`[Unit]
Description=Fake Axiom API and OTLP receiver
Before=%s

[Service]
Type=notify
ExecStart=%s/fakeaxiomd -control %s/control.sock -token %s
`, recordUnit, srv, srv, testToken)})
	files = append(files, healthUnits...)
	wants["multi-user.target"] = append(wants["multi-user.target"], "fake-axiom.service", probeUnit)
	sysusers, users := nixosUsers(t, ev.Users)
	write(t, filepath.Join(m.lib, "sysusers.d", "nixos.conf"), sysusers)
	files = append(files, users)
	wants["sysinit.target"] = append(wants["sysinit.target"], users.name)
	for _, f := range files {
		write(t, filepath.Join(dir, f.name), f.text)
	}
	for target, units := range wants {
		for _, u := range units {
			link := filepath.Join(dir, target+".wants", u)
			os.MkdirAll(filepath.Dir(link), 0o755)
			if err := os.Symlink("../"+u, link); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// switchNext makes the next system a new generation and switches to it as
// switch-to-configuration ends a switch: /run/current-system moves, then
// the active targets are started. It returns the generation and how long
// the switch took.
func (m *machine) switchNext() (int, time.Duration) {
	m.t.Helper()
	path := m.nextSystem()
	start := time.Now()
	m.c.MustRun("sh", "-c", `ln -sfn "$1" /run/current-system && systemctl start multi-user.target`, "sh", path)
	return m.nix.Generation(), time.Since(start)
}

// nextSystem makes the next system a new generation of the profile.
func (m *machine) nextSystem() string {
	m.t.Helper()
	path := m.systems[*m.next]
	*m.next++
	m.nix.Boot(path)
	return path
}

// restart starts the active targets again without a new system, as a
// switch to the same configuration does.
func (m *machine) restart() {
	m.t.Helper()
	m.c.MustRun("systemctl", "start", "multi-user.target")
}

// recordedOnRestart: with what kept generation gen from being recorded
// gone, the next start of the targets records it, it is annotated once
// (the first annotation after base), and no unit is failed.
func (m *machine) recordedOnRestart(base, gen int) {
	m.t.Helper()
	m.restart()
	m.awaitAnnotations(base+1, time.Minute)
	m.settle()
	m.annotatedOnce(base, gen)
	m.noneFailed()
}

// deliveredByFlush: with what kept generation gen, spooled, from being
// delivered gone, the next flush (as the timer starts it) annotates it
// once, and no unit is failed.
func (m *machine) deliveredByFlush(base, gen int) {
	m.t.Helper()
	m.c.MustRun("systemctl", "start", flushUnit)
	m.settle()
	m.annotatedOnce(base, gen)
	m.noneFailed()
}

// do asks the fake something over its control socket.
func (m *machine) do(method, path string, out any) {
	m.t.Helper()
	req, _ := http.NewRequest(method, "http://fake"+path, nil)
	resp, err := m.control.Do(req)
	if err != nil {
		m.t.Fatalf("fake Axiom: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("fake Axiom: %s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m *machine) annotations() []fakeaxiom.Annotation {
	var a []fakeaxiom.Annotation
	m.do("GET", "/annotations", &a)
	return a
}

// await polls until cond holds, failing the test after within.
func (m *machine) await(within time.Duration, what string, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("not within %s: %s", within, what)
		}
		<-tick.C
	}
}

// awaitAnnotations waits until the fake holds n annotations.
func (m *machine) awaitAnnotations(n int, within time.Duration) {
	m.t.Helper()
	m.await(within, fmt.Sprintf("%d annotations", n), func() bool { return len(m.annotations()) >= n })
}

// settle waits until no job of ours is queued and both services are
// inactive (or failed).
func (m *machine) settle() {
	m.t.Helper()
	m.await(2*time.Minute, "the services settle", func() bool {
		jobs := m.c.MustRun("systemctl", "list-jobs", "--plain", "--no-legend")
		if strings.Contains(jobs, "axiom-deploy-annotation") {
			return false
		}
		for _, s := range strings.Fields(m.show("ActiveState", recordUnit, flushUnit)) {
			if s != "inactive" && s != "failed" {
				return false
			}
		}
		return true
	})
}

// show is a property of units, one value a line.
func (m *machine) show(property string, units ...string) string {
	m.t.Helper()
	return m.c.MustRun(append([]string{"systemctl", "show", "--value", "-p", property}, units...)...)
}

// noneFailed fails the test when a unit of ours is failed, or the
// system is degraded, either of which fails the next switch.
func (m *machine) noneFailed() {
	m.t.Helper()
	failed := m.c.MustRun("systemctl", "list-units", "--failed", "--plain", "--no-legend", "--all")
	for _, u := range ourUnits {
		if strings.Contains(failed, u) {
			m.t.Errorf("%s failed (%s):\n%s", u, strings.TrimSpace(m.show("Result", u)), failed)
		}
	}
	if state, _ := m.c.Run("systemctl", "is-system-running"); strings.TrimSpace(state) != "running" {
		m.t.Errorf("system %s; a switch now exits 4:\n%s", strings.TrimSpace(state), failed)
	}
}

var titleGen = regexp.MustCompile(`^web-1 gen (\d+)\b`)

// annotatedOnce checks that the annotations after the first base are one
// for each of gens, in any order, and nothing else.
func (m *machine) annotatedOnce(base int, gens ...int) {
	m.t.Helper()
	var got []int
	for _, a := range m.annotations()[base:] {
		g := titleGen.FindStringSubmatch(a.Title)
		if g == nil {
			m.t.Errorf("annotation %q names no generation of web-1", a.Title)
			continue
		}
		n, _ := strconv.Atoi(g[1])
		got = append(got, n)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(gens))
	if !slices.Equal(got, want) {
		m.t.Errorf("annotated generations %v, want %v, each once", got, want)
	}
}

// credentials is what the loaded unit loads as credentials (systemctl
// show cannot print it).
func (m *machine) credentials(unit string) string {
	m.t.Helper()
	var path strings.Builder
	path.WriteString("/org/freedesktop/systemd1/unit/")
	for _, c := range []byte(unit) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			path.WriteByte(c)
		} else {
			fmt.Fprintf(&path, "_%02x", c)
		}
	}
	return m.c.MustRun("busctl", "get-property", "org.freedesktop.systemd1", path.String(), "org.freedesktop.systemd1.Service", "LoadCredential")
}

// logged waits for a unit to log what (journald takes a moment to store
// what it is sent) after the journal's cursor since.
func (m *machine) logged(unit, since, what string) {
	m.t.Helper()
	var j string
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(j, what) {
		if time.Now().After(deadline) {
			m.t.Errorf("%s did not log %q:\n%s", unit, what, j)
			return
		}
		<-tick.C
		j = m.c.MustRun("journalctl", "--no-pager", "-o", "cat", "-u", unit, "--after-cursor", since)
	}
}

// cursor is the journal's position now.
func (m *machine) cursor() string {
	m.t.Helper()
	out := m.c.MustRun("journalctl", "-n", "0", "--show-cursor", "--no-pager")
	_, c, _ := strings.Cut(out, "-- cursor: ")
	return strings.TrimSpace(c)
}

// rootRun starts the bare command in the container as root, as a person
// runs it by hand, with the units' configuration and token.
func (m *machine) rootRun(args ...string) *exec.Cmd {
	cmd := m.c.Command(append([]string{m.exe}, append(args, "--config", m.config, "--token-file", srv+"/token")...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	m.t.Cleanup(func() {
		if m.t.Failed() {
			m.t.Logf("%s: %s", strings.Join(args, " "), out.String())
		}
	})
	return cmd
}
