package nix_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// serviceUIDs is the UIDs each service's own processes logged as.
func serviceUIDs(t *testing.T, m *machine, unit string) []string {
	out := m.c.MustRun("journalctl", "--no-pager", "-o", "json", "_SYSTEMD_UNIT="+unit, "--output-fields=_UID")
	var uids []string
	for line := range strings.Lines(out) {
		var e struct {
			UID string `json:"_UID"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.UID != "" && !slices.Contains(uids, e.UID) {
			uids = append(uids, e.UID)
		}
	}
	return uids
}

func checkServiceUser(t *testing.T, m *machine) {
	var rec, fl []string
	// Both ran by now; journald stores what they logged a moment later.
	m.await(10*time.Second, "both services' own lines in the journal", func() bool {
		rec, fl = serviceUIDs(t, m, recordUnit), serviceUIDs(t, m, flushUnit)
		return len(rec) > 0 && len(fl) > 0
	})
	if len(rec) != 1 || !slices.Equal(rec, fl) || rec[0] == "0" {
		t.Fatalf("the record ran as UIDs %v, the flush as %v; want one UID, not root, for both", rec, fl)
	}
	stateOwnedBy(t, m, rec[0])
}

// stateOwnedBy checks that everything in the state directory belongs to uid
// and can be written by it.
func stateOwnedBy(t *testing.T, m *machine, uid string) {
	t.Helper()
	out := m.c.MustRun("find", stateDir, "-printf", `%U %m %y %p\n`)
	for line := range strings.Lines(out) {
		var owner, mode, kind, path string
		fmt.Sscan(line, &owner, &mode, &kind, &path)
		writable := strings.HasPrefix(mode, "6") || strings.HasPrefix(mode, "7")
		if kind == "d" {
			writable = strings.HasPrefix(mode, "7")
		}
		if owner != uid || !writable {
			t.Errorf("%s: owner %s, mode %s; want %s, writable by it", path, owner, mode, uid)
		}
	}
}

// checkDynamicUserStateCarried: the units ran as a DynamicUser before,
// which kept the state in /var/lib/private with a link to it from
// /var/lib. systemd moves it back and gives it to the services' user at
// the next start; the deploy it recorded is not sent again.
func checkDynamicUserStateCarried(t *testing.T, m *machine) {
	base := len(m.annotations())
	uid := serviceUIDs(t, m, recordUnit)[0]
	private := "/var/lib/private/axiom-deploy-annotation"
	// A UID of systemd's dynamic range, as the old units had.
	m.c.MustRun("sh", "-c", `set -e
mkdir -p -m 0700 /var/lib/private
mv "$1" "$2"
ln -s private/axiom-deploy-annotation "$1"
chown -R 61234:61234 "$2"`, "sh", stateDir, private)
	m.restart()
	m.settle()
	if out, err := m.c.Run("test", "-e", private); err == nil {
		t.Errorf("%s is still there: %s", private, out)
	}
	if kind := strings.TrimSpace(m.c.MustRun("stat", "-c", "%F", stateDir)); kind != "directory" {
		t.Errorf("%s is a %s, want the directory itself", stateDir, kind)
	}
	stateOwnedBy(t, m, uid)
	if n := len(m.annotations()); n != base {
		t.Errorf("%d annotations, want %d: the deploy the old state recorded was sent again", n, base)
	}
	m.noneFailed()
}
