package nix_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nspawn"
)

// TestNixOSUnitsSystemdNix runs the module's units under a real systemd:
// Debian's systemd 252 booted in systemd-nspawn, the units rendered from
// nix/nixos.nix and written as NixOS writes them, the host's store with a
// Nix daemon, real generations, and a fake Axiom inside the container. A
// switch is what switch-to-configuration ends one with: /run/current-system
// moves, then multi-user.target is started. The checks run in order on the
// one machine, each leaving it as it found it.
func TestNixOSUnitsSystemdNix(t *testing.T) {
	nixtest.Require(t)
	nspawn.Require(t)
	m := newMachine(t, 40)
	checks := []struct {
		name string
		run  func(*testing.T, *machine)
	}{
		{"boot annotates once", checkBoot},
		{"one system user, state writable by it", checkServiceUser},
		{"state a dynamic user made, carried over", checkDynamicUserStateCarried},
		{"switch while Axiom hangs", checkHangingAxiom},
		{"token only to the flush", checkToken},
		{"Axiom answers 500", checkAxiom500},
		{"invalid configuration", checkInvalidConfig},
		{"record while a root run holds the delivery lock", checkRootRunHoldsLock},
		{"unreadable state", checkUnreadableState},
		{"unusable lock path", checkUnusableLock},
		{"a file where the state directory goes", checkStateDirectoryFile},
		{"a file where the cache directory goes", checkCacheDirectoryFile},
		{"a token systemd cannot load", checkTokenTooLarge},
		{"ten switches, Axiom healthy", func(t *testing.T, m *machine) { checkTenSwitches(t, m, false) }},
		{"ten switches, trace endpoint never answers", func(t *testing.T, m *machine) { checkTenSwitches(t, m, true) }},
		{"a switch leaves a unit failed", checkHealthFailed},
		{"the next switch fixes it", checkHealthFixed},
		{"a unit failed before the switch and after", checkHealthAlreadyFailed},
		{"a failed unit, no bus to ask systemd", checkHealthNoBus},
		{"exposure as documented", checkExposure},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, m.on(t)) })
	}
}

// on is the machine, reporting to t.
func (m *machine) on(t *testing.T) *machine {
	c := *m
	c.t = t
	return &c
}

func checkBoot(t *testing.T, m *machine) {
	m.awaitAnnotations(1, time.Minute)
	m.settle()
	m.annotatedOnce(0, 1)
	m.noneFailed()
	if s := strings.TrimSpace(m.show("ActiveState", timerUnit)); s != "active" {
		t.Errorf("%s is %s", timerUnit, s)
	}
}

func checkHangingAxiom(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.do("PUT", "/hold/api", nil)
	defer m.do("DELETE", "/hold/api", nil)
	gen, took := m.switchNext()
	t.Logf("switch while Axiom hangs: %s", took)
	if took > time.Second {
		t.Errorf("the switch took %s while Axiom hung; want well under a second", took)
	}
	// The delivery runs, waiting for Axiom, with the token as a credential
	// of its own; the record never had one.
	// systemd reports the unit activating from the start of its job, a
	// moment before it has set up the credentials and run the command.
	var token string
	m.await(time.Minute, flushUnit+" delivering, with its token credential", func() bool {
		var err error
		token, err = m.c.Run("cat", "/run/credentials/"+flushUnit+"/token")
		return err == nil && strings.TrimSpace(m.show("ActiveState", flushUnit)) == "activating"
	})
	if strings.TrimSpace(token) != testToken {
		t.Errorf("the flush's token credential: %q", token)
	}
	if _, err := m.c.Run("test", "-e", "/run/credentials/"+recordUnit); err == nil {
		t.Errorf("the record service has credentials")
	}
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations while Axiom hangs, want %d", n, base)
	}
	m.do("DELETE", "/hold/api", nil)
	m.awaitAnnotations(base+1, time.Minute)
	m.settle()
	m.annotatedOnce(base, gen)
	m.noneFailed()
}

func checkToken(t *testing.T, m *machine) {
	if got := strings.TrimSpace(m.credentials(recordUnit)); got != "a(ss) 0" {
		t.Errorf("%s: LoadCredential %s, want none", recordUnit, got)
	}
	if got, want := strings.TrimSpace(m.credentials(flushUnit)), fmt.Sprintf(`a(ss) 1 "token" "%s/token"`, srv); got != want {
		t.Errorf("%s: LoadCredential %s, want %s", flushUnit, got, want)
	}
	base := len(m.annotations())
	if err := os.Remove(filepath.Join(m.srv, "token")); err != nil {
		t.Fatal(err)
	}
	before := m.show("ConditionTimestampMonotonic", flushUnit)
	gen, _ := m.switchNext()
	m.await(time.Minute, "the flush's condition checked", func() bool {
		return m.show("ConditionTimestampMonotonic", flushUnit) != before
	})
	m.settle()
	if got := strings.TrimSpace(m.show("ConditionResult", flushUnit)); got != "no" {
		t.Errorf("%s without its token: ConditionResult %s, want no (skipped)", flushUnit, got)
	}
	m.noneFailed()
	m.writeToken()
	m.deliveredByFlush(base, gen)
}

func checkAxiom500(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.do("PUT", "/fail/api?status=500", nil)
	defer m.do("DELETE", "/fail/api", nil)
	gen, _ := m.switchNext()
	m.settle()
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations, want %d", n, base)
	}
	m.noneFailed()
	m.do("DELETE", "/fail/api", nil)
	m.deliveredByFlush(base, gen)
}

func checkInvalidConfig(t *testing.T, m *machine) {
	// A cross build does not check the configuration file when it is built.
	m.install(machineSettings(map[string]any{"noSuchKey": 1}), false)
	m.c.MustRun("systemctl", "daemon-reload")
	since := m.cursor()
	base := len(m.annotations())
	gen, _ := m.switchNext()
	m.settle()
	for _, u := range []string{recordUnit, flushUnit} {
		m.logged(u, since, "noSuchKey")
	}
	m.noneFailed()
	m.install(machineSettings(nil), true)
	m.c.MustRun("systemctl", "daemon-reload")
	m.recordedOnRestart(base, gen)
}

func checkRootRunHoldsLock(t *testing.T, m *machine) {
	base := len(m.annotations())
	uid := serviceUIDs(t, m, recordUnit)[0]
	m.do("PUT", "/hold/api", nil)
	defer m.do("DELETE", "/hold/api", nil)
	// Root annotates the next system by hand, and delivers it while Axiom
	// hangs, holding the delivery lock.
	path := m.nextSystem()
	first := m.nix.Generation()
	m.c.MustRun("ln", "-sfn", path, "/run/current-system")
	manual := m.rootRun()
	if err := manual.Start(); err != nil {
		t.Fatal(err)
	}
	m.await(time.Minute, "the root run holds the delivery lock", func() bool {
		_, err := m.c.Run("flock", "-n", stateDir+"/lock", "true")
		return err != nil
	})
	m.restart()
	second, _ := m.switchNext()
	m.settle()
	m.noneFailed()
	m.do("DELETE", "/hold/api", nil)
	if err := manual.Wait(); err != nil {
		t.Errorf("the root run: %v", err)
	}
	m.awaitAnnotations(base+2, time.Minute)
	m.restart()
	m.settle()
	m.annotatedOnce(base, first, second)
	m.noneFailed()
	stateOwnedBy(t, m, uid)
}

func checkUnreadableState(t *testing.T, m *machine) {
	base := len(m.annotations())
	uid := serviceUIDs(t, m, recordUnit)[0]
	m.c.MustRun("chown", "root:root", stateDir+"/state.json")
	spool := m.c.MustRun("ls", stateDir+"/spool")
	since := m.cursor()
	gen, _ := m.switchNext()
	m.settle()
	m.logged(recordUnit, since, "state directory unusable")
	if now := m.c.MustRun("ls", stateDir+"/spool"); now != spool {
		t.Errorf("spool %q, want %q: nothing recorded", now, spool)
	}
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations, want %d: nothing sent", n, base)
	}
	m.noneFailed()
	m.c.MustRun("chown", uid+":"+uid, stateDir+"/state.json")
	m.recordedOnRestart(base, gen)
}

func checkUnusableLock(t *testing.T, m *machine) {
	base := len(m.annotations())
	m.c.MustRun("sh", "-c", "rm -f "+stateDir+"/lock && mkdir -p -m 0700 "+stateDir+"/lock/held")
	gen, _ := m.switchNext()
	m.settle()
	m.noneFailed()
	m.c.MustRun("rm", "-rf", stateDir+"/lock")
	m.recordedOnRestart(base, gen)
}

// checkBrokenDirectory puts a file where systemd makes one of the services'
// directories: systemd fails the services before the command runs
// (status 238 STATE_DIRECTORY, 239 CACHE_DIRECTORY), which must fail no
// unit and no switch; once the file is gone, the deploy is annotated.
func checkBrokenDirectory(t *testing.T, m *machine, dir, step string) {
	base := len(m.annotations())
	m.c.MustRun("sh", "-c", fmt.Sprintf("mv %s %s.saved && touch %s", dir, dir, dir))
	since := m.cursor()
	gen, _ := m.switchNext()
	m.settle()
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations sent with a file where %s goes, want none", n-base, dir)
	}
	// systemd's child says why; journald may lose the line of a child
	// that ends at once, so its absence alone proves nothing.
	if j := m.c.MustRun("journalctl", "--no-pager", "-o", "cat", "-u", recordUnit, "--after-cursor", since); !strings.Contains(j, "Failed at step "+step) {
		t.Logf("the journal kept no \"Failed at step %s\" line this time", step)
	}
	m.noneFailed()
	m.c.MustRun("sh", "-c", fmt.Sprintf("rm %s && mv %s.saved %s", dir, dir, dir))
	m.recordedOnRestart(base, gen)
}

func checkStateDirectoryFile(t *testing.T, m *machine) {
	checkBrokenDirectory(t, m, stateDir, "STATE_DIRECTORY")
}

func checkCacheDirectoryFile(t *testing.T, m *machine) {
	checkBrokenDirectory(t, m, cacheDir, "CACHE_DIRECTORY")
}

// checkTokenTooLarge: systemd loads no credential over 1 MiB, and fails
// the service (status 243 CREDENTIALS) before the command could say so.
func checkTokenTooLarge(t *testing.T, m *machine) {
	base := len(m.annotations())
	path := filepath.Join(m.srv, "token")
	os.Remove(path)
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 2<<20)), 0o400); err != nil {
		t.Fatal(err)
	}
	since := m.cursor()
	gen, _ := m.switchNext()
	m.settle()
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations sent with a token systemd cannot load, want none", n-base)
	}
	// systemd's own line says why; journald may lose the line of a child
	// that ends at once, so its absence alone proves nothing.
	if j := m.c.MustRun("journalctl", "--no-pager", "-o", "cat", "--after-cursor", since); !strings.Contains(j, "Failed at step CREDENTIALS") {
		t.Logf("the journal kept no \"Failed at step CREDENTIALS\" line this time")
	}
	m.noneFailed()
	m.writeToken()
	m.deliveredByFlush(base, gen)
}

// checkTenSwitches: ten switches within five seconds, every deploy
// annotated once within a minute, no unit failed: neither the start limit
// nor a flush exporting its spans may keep a deploy waiting for the timer.
func checkTenSwitches(t *testing.T, m *machine, tracesHang bool) {
	if tracesHang {
		m.do("PUT", "/hold/traces", nil)
		defer m.do("DELETE", "/hold/traces", nil)
	}
	base := len(m.annotations())
	start := time.Now()
	var gens []int
	for range 10 {
		gen, _ := m.switchNext()
		gens = append(gens, gen)
	}
	took := time.Since(start)
	t.Logf("ten switches in %s", took)
	if took > 5*time.Second {
		t.Fatalf("ten switches took %s, want at most 5 s", took)
	}
	m.await(time.Minute, "every deploy annotated", func() bool { return len(m.annotations()) >= base+10 })
	m.settle()
	m.annotatedOnce(base, gens...)
	m.noneFailed()
}

var exposure = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+) (\w+)`)

// checkExposure: the figures docs/security.md and nix/nixos.nix quote are what
// systemd-analyze security says of the units in the running systemd.
func checkExposure(t *testing.T, m *machine) {
	figure := map[string]string{}
	for _, u := range []string{recordUnit, flushUnit} {
		// The loaded unit, and its file as an offline check reads it.
		for _, args := range [][]string{{u}, {"--offline=true", "/usr/local/lib/systemd/system/" + u}} {
			out, _ := m.c.Run(append([]string{"systemd-analyze", "security", "--no-pager"}, args...)...)
			g := exposure.FindStringSubmatch(out)
			if g == nil {
				t.Fatalf("systemd-analyze security %s:\n%s", strings.Join(args, " "), out)
			}
			if f, ok := figure[u]; ok && f != g[2]+" "+g[3] {
				t.Errorf("%s: %s live, %s %s offline", u, f, g[2], g[3])
			}
			figure[u] = g[2] + " " + g[3]
		}
	}
	t.Logf("exposure: record %s, flush %s", figure[recordUnit], figure[flushUnit])
	record, flush := strings.Fields(figure[recordUnit]), strings.Fields(figure[flushUnit])
	for file, quotes := range map[string][]string{
		"docs/security.md": {
			fmt.Sprintf("record service **%s (%s)**", record[0], record[1]),
			fmt.Sprintf("flush service **%s (%s)**", flush[0], flush[1]),
		},
		"nix/nixos.nix": {
			fmt.Sprintf("record service %s (%q)", record[0], record[1]),
			fmt.Sprintf("flush service %s (%q)", flush[0], flush[1]),
		},
	} {
		b, err := os.ReadFile(filepath.Join(moduleRoot(t), file))
		if err != nil {
			t.Fatal(err)
		}
		// Words as they read, wherever the lines break; comment marks
		// dropped.
		text := strings.Join(slices.DeleteFunc(strings.Fields(string(b)), func(w string) bool { return w == "#" }), " ")
		for _, q := range quotes {
			if !strings.Contains(text, q) {
				t.Errorf("%s does not say %q", file, q)
			}
		}
	}
}
