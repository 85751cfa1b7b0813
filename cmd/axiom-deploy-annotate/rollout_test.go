package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRolloutFailsBeforeCommand: a rollout whose run cannot begin (here
// the host name cannot be found, with no --hostname) says why on stderr and
// exits with the error's status, without running its command. It used to
// exit 0 and say nothing: the rollout's status was returned and its error
// dropped.
func TestRolloutFailsBeforeCommand(t *testing.T) {
	saved := shortHostname
	shortHostname = func() (string, error) { return "", errors.New("no host name for this machine") }
	t.Cleanup(func() { shortHostname = saved })
	t.Setenv("AXIOM_TOKEN", "")
	marker := filepath.Join(t.TempDir(), "ran")
	var stdout, stderr bytes.Buffer
	code := run([]string{"rollout", "--state-dir", t.TempDir(), "--traces-endpoint", "", "--", "sh", "-c", "touch " + marker}, &stdout, &stderr)
	if code != exitInternal {
		t.Errorf("exit status %d, want %d", code, exitInternal)
	}
	if !strings.Contains(stderr.String(), "axiom-deploy-annotate: no host name for this machine") {
		t.Errorf("stderr does not say why:\n%s", stderr.String())
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command ran: %v", err)
	}
}
