package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestUserStateDirectory: run by a user other than root with no state
// directory chosen, a rollout keeps its spool in that user's own
// $XDG_STATE_HOME, so that a later run of theirs delivers it.
func TestUserStateDirectory(t *testing.T) {
	runuser, err := exec.LookPath("runuser")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and runuser to run the command as another user")
	}
	// Not t.TempDir: its parent is for root only.
	dir, err := os.MkdirTemp("", "user-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "axiom-deploy-annotate")
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
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
