// Package nspawn boots Debian's systemd in systemd-nspawn for tests, so that
// units can be tested under the real service manager on a machine whose own
// PID 1 is not systemd. The Debian root is made with debootstrap, from the
// mirror the machine's apt sources name, and kept between runs in
// /var/cache/axiom-deploy-annotation where that can be written.
//
// It needs root, systemd-nspawn (Debian's systemd-container) and debootstrap.
// Where they are missing the test is skipped, except under CI (CI=true),
// where it fails.
package nspawn

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Require skips the test where a container cannot be booted, and fails it
// under CI, where it must.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, cmd := range []string{"systemd-nspawn", "debootstrap", "nsenter"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd)
		}
	}
	for _, d := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("booting a container needs %s", strings.Join(missing, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (required under CI)")
	}
	t.Skip(msg)
}

// Packages are what the root holds besides the minimal base: systemd as
// PID 1, D-Bus for systemctl, and Debian's Nix with its daemon's units
// (libdbi-perl provides a virtual package nix-bin needs, which debootstrap
// does not resolve).
//
// libnss-systemd resolves dynamic users, as NixOS does by default (the bus
// still refuses their connections: the module's services run as a system
// user).
var Packages = []string{"systemd", "systemd-sysv", "dbus", "libnss-systemd", "nix-setup-systemd", "libdbi-perl"}

// prepare is what is done to the root once debootstrap made it; it is part
// of the cache key.
var prepare = []struct{ path, content string }{
	// Without a console or first-boot answers the boot would wait for them.
	{"etc/systemd/system/console-getty.service", "@/dev/null"},
	{"etc/systemd/system/systemd-firstboot.service", "@/dev/null"},
	// Nothing here may wait on the network, which the container lacks.
	{"etc/systemd/system/apt-daily.timer", "@/dev/null"},
	{"etc/systemd/system/apt-daily-upgrade.timer", "@/dev/null"},
	// Debian's, started with multi-user.target and under systemd's default
	// start limit: a test switching often would see it fail.
	{"etc/systemd/system/systemd-update-utmp-runlevel.service", "@/dev/null"},
	{"etc/hostname", "web-1\n"},
	// NixOS's daemon socket directory is world-readable; Debian's is for
	// the nix-users group only, which the services' user is not in.
	{"etc/tmpfiles.d/nix-daemon.conf", "d /nix/var/nix/daemon-socket 0755 root root\n"},
}

// cacheDir holds the roots made, one per key.
const cacheDir = "/var/cache/axiom-deploy-annotation/nspawn"

// Root returns a Debian root for the suite the machine runs, made with
// debootstrap once and kept in cacheDir, or, where that cannot be written,
// in a temporary directory of the test.
func Root(t testing.TB) string {
	t.Helper()
	suite, mirror, err := debianSource()
	if err != nil {
		t.Fatalf("no Debian mirror to make the container's root from: %v", err)
	}
	key := cacheKey(suite)
	dir := cacheDir
	if err := os.MkdirAll(dir, 0o755); err != nil || syscall.Access(dir, 2) != nil {
		dir = t.TempDir()
	}
	root := filepath.Join(dir, key)
	lock, err := os.OpenFile(root+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Another test process may be making the same root.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "os-release")); err == nil {
		return root
	}
	tmp := root + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	t.Logf("making the container's root with debootstrap (%s from %s), once", suite, mirror)
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), suite, tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tail(out, 40))
	}
	for _, p := range prepare {
		path := filepath.Join(tmp, p.path)
		os.Remove(path)
		if target, ok := strings.CutPrefix(p.content, "@"); ok {
			err = os.Symlink(target, path)
		} else {
			err = os.WriteFile(path, []byte(p.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	removeStale(dir, key)
	return root
}

// cacheKey names a root by what it is made of.
func cacheKey(suite string) string {
	h := sha256.New()
	fmt.Fprintln(h, suite, strings.Join(Packages, ","))
	for _, p := range prepare {
		fmt.Fprintf(h, "%s\x00%s\x00", p.path, p.content)
	}
	return "debian-" + suite + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// removeStale removes roots made of something else, which no test uses any
// more.
func removeStale(dir, key string) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, "debian-") && !strings.HasPrefix(name, key) {
			os.RemoveAll(filepath.Join(dir, name))
		}
	}
}

// debianSource is the suite this machine runs and the first mirror its apt
// sources name for it.
func debianSource() (suite, mirror string, err error) {
	suite, err = codename()
	if err != nil {
		return "", "", err
	}
	var files []string
	files = append(files, "/etc/apt/sources.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uris []string
		switch {
		case strings.HasSuffix(f, ".sources"):
			uris = deb822URIs(string(b), suite)
		case strings.HasSuffix(f, ".list") || f == "/etc/apt/sources.list":
			uris = oneLineURIs(string(b), suite)
		}
		if len(uris) > 0 {
			return suite, uris[0], nil
		}
	}
	return "", "", fmt.Errorf("no deb source for %s in /etc/apt/sources.list or /etc/apt/sources.list.d", suite)
}

func codename() (string, error) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", errors.New("/etc/os-release names no VERSION_CODENAME")
}

// oneLineURIs reads "deb [options] URI suite components" lines.
func oneLineURIs(text, suite string) []string {
	var uris []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 && f[1] == suite {
			uris = append(uris, f[0])
		}
	}
	return uris
}

// deb822URIs reads the stanzas of a .sources file.
func deb822URIs(text, suite string) []string {
	var uris []string
	for stanza := range strings.SplitSeq(text, "\n\n") {
		fields := map[string][]string{}
		for line := range strings.Lines(stanza) {
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
			}
		}
		if slices.Contains(fields["types"], "deb") && slices.Contains(fields["suites"], suite) && !slices.Contains(fields["enabled"], "no") {
			uris = append(uris, fields["uris"]...)
		}
	}
	return uris
}

func tail(b []byte, lines int) string {
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
