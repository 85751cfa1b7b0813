package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUserStateDirectory: run by a user other than root with no state
// directory chosen, a rollout keeps its spool in that user's own
// $XDG_STATE_HOME, so that a later run of theirs delivers it.
func TestUserStateDirectory(t *testing.T) {
	runuser, dir, bin := asAnotherUser(t, 0o777)
	state := filepath.Join(dir, "xdg")
	cmd := exec.Command(runuser, "-u", "nobody", "--", "env", "HOME=/nonexistent", "XDG_STATE_HOME="+state, "AXIOM_TOKEN=xaat-user-state",
		bin, "rollout", "--api-endpoint", "http://127.0.0.1:1/v2/annotations", "--traces-endpoint=", "--timeout", "2s", "--", "true")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rollout as nobody: %v\n%s", err, out)
	}
	spool, err := os.ReadDir(filepath.Join(state, "axiom-deploy-annotation", "spool"))
	if err != nil || len(spool) != 1 {
		t.Fatalf("spool in $XDG_STATE_HOME: %v, %v; want the rollout's entry", spool, err)
	}
}

// TestRootRunOnServiceState: root running the bare command on a state
// directory that a service's user keeps (the NixOS module's system user)
// leaves nothing that user cannot read or replace; and a state file that
// user cannot read makes the state directory unusable (exit 4, nothing
// sent), never "nothing annotated yet".
func TestRootRunOnServiceState(t *testing.T) {
	const nobody = 65534
	runuser, dir, bin := asAnotherUser(t, 0o755)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	args := []string{"--state-dir", state, "--api-endpoint", "http://127.0.0.1:1/v2/annotations", "--traces-endpoint=", "--timeout", "2s"}
	// run runs a mode as user (root when empty), its flags first; after
	// them, rest (a rollout's command).
	run := func(user, mode string, rest ...string) (int, string) {
		argv := append(append([]string{bin, mode}, args...), rest...)
		if user != "" {
			argv = append([]string{runuser, "-u", user, "--", "env", "AXIOM_TOKEN=xaat-service-state"}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "AXIOM_TOKEN=xaat-service-state")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	// Root spools a rollout annotation (Axiom unreachable).
	if code, out := run("", "rollout", "--", "true"); code != 0 {
		t.Fatalf("rollout as root: exit %d\n%s", code, out)
	}
	allOwnedBy(t, state, nobody)
	if code, out := run("nobody", "flush"); code != 0 {
		t.Errorf("flush as the directory's owner after root's run: exit %d\n%s", code, out)
	}

	// A state file only root can read.
	if err := os.WriteFile(filepath.Join(state, "state.json"), []byte(`{"version":1,"last":null}`), 0o600); err != nil {
		t.Fatal(err)
	}
	spool, _ := os.ReadDir(filepath.Join(state, "spool"))
	if len(spool) != 1 {
		t.Fatalf("spool %v, want the rollout's entry", spool)
	}
	if code, out := run("nobody", "flush"); code != 4 || !strings.Contains(out, "state directory unusable") {
		t.Errorf("flush with a state file it cannot read: exit %d, want 4\n%s", code, out)
	}
	if again, _ := os.ReadDir(filepath.Join(state, "spool")); len(again) != len(spool) {
		t.Errorf("spool %v, then %v", spool, again)
	}
}

// allOwnedBy checks that everything under dir belongs to uid.
func allOwnedBy(t *testing.T, dir string, uid uint32) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("%s: owned by %d, want the directory's owner %d", path, st.Uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// asAnotherUser skips the test unless it can run the command as another
// user (root, runuser), and returns runuser and a directory of mode perm
// holding the built command. Not t.TempDir: its parent is for root only.
func asAnotherUser(t *testing.T, perm os.FileMode) (runuser, dir, bin string) {
	t.Helper()
	runuser, err := exec.LookPath("runuser")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and runuser to run the command as another user")
	}
	dir, err = os.MkdirTemp("", "another-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "axiom-deploy-annotate")
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return runuser, dir, bin
}
