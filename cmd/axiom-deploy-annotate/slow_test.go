package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// TestSlowAxiomAnnotatesOnce: an Axiom that stores the annotation but
// answers later than one attempt's time limit (a quarter of --timeout),
// within the deadline, gets it once, and the run says it is annotated.
// (Answering after 6 s with --timeout 8s once stored it three times.)
func TestSlowAxiomAnnotatesOnce(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	current := filepath.Join(dir, "current")
	switchTo(t, current, fakeSystem(t, dir, "slow"))
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	fake.Fail(fakeaxiom.Fault{Delay: 2500 * time.Millisecond, Method: http.MethodPost})
	var stdout, stderr bytes.Buffer
	code := run([]string{"--state-dir", filepath.Join(dir, "state"), "--current-system", current, "--profile", filepath.Join(dir, "none"),
		"--hostname", "h", "--api-endpoint", fake.Endpoint(), "--token-file", token, "--traces-endpoint=", "--timeout", "4s"}, &stdout, &stderr)
	fake.WaitIdle()
	if code != exitOK || !strings.HasPrefix(stdout.String(), `annotated "h test" as ann_`) {
		t.Errorf("exit %d, stdout %q, stderr %s", code, stdout.String(), stderr.String())
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("Axiom holds %d annotations, want 1", n)
	}
}
