package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// pairShapes are the shapes of the benchmark's pairs of 3000-path systems:
// realistic (packages refer to a few others; a newer kernel under
// everything makes every path new), flat (packages refer to nothing; a
// few paths new), and NixOS-like deep closures with a few paths new or
// nearly all.
var pairShapes = []string{"realistic", "flat", "deep-few", "deep-all"}

var (
	pairsMu sync.Mutex
	pairs   = map[string][]string{}
)

// bigPair builds a pair of the shape once per test process.
func bigPair(t testing.TB, shape string) []string {
	t.Helper()
	nixtest.Require(t)
	pairsMu.Lock()
	defer pairsMu.Unlock()
	if p, ok := pairs[shape]; ok {
		return p
	}
	before, after := nixtest.BigSystems(3000)
	build := nixtest.BuildBig
	switch shape {
	case "flat":
		build = nixtest.BuildFlat
	case "deep-few", "deep-all":
		before, after = nixtest.DeepSystems(3000, shape == "deep-all")
		build = nixtest.BuildDeep
	}
	pairs[shape] = build(t, before, after)
	return pairs[shape]
}

// user is who runs the command and Nix: root, or nobody as a service's
// system user does; both reach the store through the test's daemon (root
// with the daemon's socket present, as on NixOS, where root's own Nix
// commands still open the store directly).
type user struct {
	name string
	// cred is nobody's, nil for root.
	cred *syscall.Credential
	env  []string
	bin  string
}

func users(t testing.TB, d *nixtest.Daemon) []user {
	t.Helper()
	uid, gid := nixtest.Nobody(t)
	nobody := user{name: "nobody", cred: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}, bin: nixtest.CopyForUser(t, binary(t))}
	cache := t.TempDir()
	nixtest.OpenToAll(t, cache)
	nobody.chown(t, cache)
	nobody.env = append(d.Env(), "NIX_REMOTE=", "HOME=/nonexistent", "XDG_CACHE_HOME="+cache)
	root := user{name: "root", bin: binary(t), env: append(d.Env(), "NIX_REMOTE=")}
	return []user{root, nobody}
}

// setup makes cmd run as the user.
func (u user) setup(cmd *exec.Cmd) {
	cmd.Env = append(append(os.Environ(), "AXIOM_TOKEN=", "OTEL_SDK_DISABLED=true"), u.env...)
	if u.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
}

// chown gives dir to the user.
func (u user) chown(t testing.TB, dir string) {
	t.Helper()
	if u.cred == nil {
		return
	}
	if err := os.Chown(dir, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

// run runs the command as the user on machine m with the state directory
// state, and returns its stdout and stderr.
func (u user) run(t testing.TB, m *nixtest.Machine, state string, args ...string) (string, string) {
	t.Helper()
	base := []string{"--profile", m.Profile(), "--current-system", m.CurrentSystem(), "--state-dir", state,
		"--hostname", "bench", "--traces-endpoint", "", "--verbose"}
	cmd := exec.Command(u.bin, append(base, args...)...)
	u.setup(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s as %s: %v\n%s", strings.Join(args, " "), u.name, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// deployed is a machine whose second generation, p[1], runs now, and
// states directories (for the user) that recorded the first, p[0], and
// keep its closure's snapshot: made by running the command without
// annotations while p[0] ran.
func deployed(t testing.TB, u user, p []string, states int) (*nixtest.Machine, []string) {
	t.Helper()
	m := nixtest.NewMachine(t)
	nixtest.OpenToAll(t, m.Root)
	m.Switch(p[0])
	var dirs []string
	for range states {
		dir := t.TempDir()
		nixtest.OpenToAll(t, dir)
		state := filepath.Join(dir, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		u.chown(t, state)
		u.run(t, m, state, "--annotate=false")
		dirs = append(dirs, state)
	}
	m.Switch(p[1])
	return m, dirs
}

// snapshotted says whether the state directory holds a snapshot of system.
func snapshotted(state, system string) bool {
	hash, _, _ := strings.Cut(filepath.Base(system), "-")
	fi, err := os.Lstat(filepath.Join(state, "snapshots", hash+".closure"))
	return err == nil && fi.Mode().IsRegular()
}

// dryRunChanges runs --dry-run and returns the changes it prints.
func dryRunChanges(t testing.TB, u user, m *nixtest.Machine, state string) ([]nixtest.Change, string) {
	t.Helper()
	stdout, stderr := u.run(t, m, state, "--dry-run")
	var out struct {
		Changes []nixtest.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("--dry-run printed %q: %v", stdout, err)
	}
	return out.Changes, stderr
}

// TestDryRunMatchesDiffClosuresNix runs the command on each benchmark pair
// as root and as nobody, through a nix-daemon, with the previous system
// snapshotted and without snapshots: the changes --dry-run prints are nix
// store diff-closures' version lines, run by the same user, and the daemon
// was used (only a closure walked through it is snapshotted; the dry run
// snapshots nothing).
func TestDryRunMatchesDiffClosuresNix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pairs of 3000-path systems")
	}
	nixtest.Require(t)
	d := nixtest.StartDaemon(t)
	for _, u := range users(t, d) {
		for _, shape := range pairShapes {
			t.Run(shape+"/"+u.name, func(t *testing.T) {
				p := bigPair(t, shape)
				m, states := deployed(t, u, p, 1)
				state := states[0]
				if !snapshotted(state, p[0]) {
					t.Fatalf("no snapshot of the first system after its delivery as %s", u.name)
				}
				want := nixtest.DiffClosures(t, p[0], p[1], u.setup)
				got, stderr := dryRunChanges(t, u, m, state)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("--dry-run as %s with a snapshot:\n%v\nnix store diff-closures:\n%v", u.name, got, want)
				}
				if strings.Contains(stderr, "nix daemon not used") || snapshotted(state, p[1]) {
					t.Errorf("daemon not used, or the dry run saved a snapshot:\n%s", stderr)
				}
				if err := os.RemoveAll(filepath.Join(state, "snapshots")); err != nil {
					t.Fatal(err)
				}
				got, stderr = dryRunChanges(t, u, m, state)
				if !reflect.DeepEqual(got, want) || strings.Contains(stderr, "nix daemon not used") {
					t.Errorf("--dry-run as %s without snapshots:\n%v\nnix store diff-closures:\n%v\n%s", u.name, got, want, stderr)
				}
			})
		}
	}
}

// TestGarbageCollectedPreviousNix deletes the previous system from the
// store, generation and all, before the next deploy is delivered: the
// changes are still those nix store diff-closures gave while it was there,
// from the snapshot its delivery left; without the snapshot they are
// unknown, as they always were.
func TestGarbageCollectedPreviousNix(t *testing.T) {
	h := newHost(t)
	tag := nixtest.Unique()
	pkg := func(name, version string) nixtest.Package { return nixtest.Package{Name: tag + name, Version: version} }
	p := nixtest.Build(t,
		nixtest.System{Host: "web1", Label: "24.05.1", Packages: []nixtest.Package{pkg("hello", "2.12"), pkg("gone", "1.0"), pkg("kept", "1.0")}},
		nixtest.System{Host: "web1", Label: "24.05.2", Packages: []nixtest.Package{pkg("hello", "2.13"), pkg("new", "0.1"), pkg("kept", "1.0")}},
	)
	want := nixtest.DiffClosures(t, p[0], p[1])
	h.m.Switch(p[0])
	h.mustRun()
	h.m.Switch(p[1])
	out, err := exec.Command("nix-env", "-p", h.m.Profile(), "--delete-generations", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("nix-env --delete-generations: %v\n%s", err, out)
	}
	nixtest.Collect(t, p[0], p[1])

	// Without the snapshot: unknown.
	bare := filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(bare, os.DirFS(h.state)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(bare, "snapshots")); err != nil {
		t.Fatal(err)
	}
	state := h.state
	h.state = bare
	if r := h.mustRun("--dry-run"); !strings.Contains(r.stderr, "package changes unknown") {
		t.Errorf("without a snapshot: no warning that the changes are unknown:\n%s", r.stderr)
	}
	h.state = state

	r := h.mustRun("--dry-run")
	var dry struct {
		Changes []nixtest.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dry.Changes, want) {
		t.Errorf("--dry-run after the previous system was collected:\n%v\nnix store diff-closures before:\n%v", dry.Changes, want)
	}
	h.mustRun()
	anns := h.axiom.Annotations()
	if len(anns) != 2 {
		t.Fatalf("%d annotations, want 2", len(anns))
	}
	desc := anns[1].Description
	if !strings.Contains(desc, tag+"hello 2.12→2.13") || strings.Contains(desc, "Changes: unknown") {
		t.Errorf("description of the deploy after the collection:\n%s", desc)
	}
}
