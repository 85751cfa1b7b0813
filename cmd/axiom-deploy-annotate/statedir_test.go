package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeotlp"
)

// filesIn is every file in dir with what it holds.
func filesIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = string(b)
	}
	return out
}

// TestTraceSpoolLinkNotFollowed: a traces/ in the state directory that is a
// link to a directory of spooled exports elsewhere is not followed by a
// flush: nothing is uploaded from it, nothing there is removed or renamed,
// and the run says why.
func TestTraceSpoolLinkNotFollowed(t *testing.T) {
	recv := fakeotlp.New()
	defer recv.Close()
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	state, outside := t.TempDir(), t.TempDir()
	export, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "outside",
		}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"00000000000000000001.pb":         export,
		"00000000000000000002.pb":         []byte("not an export"),
		".00000000000000000003.pb.123456": export,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(outside, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := filesIn(t, outside)
	if err := os.Symlink(outside, filepath.Join(state, "traces")); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := run([]string{"flush", "--state-dir", state, "--api-endpoint", fake.Endpoint(), "--token-file", token,
		"--traces-endpoint", recv.Endpoint(), "--timeout", "5s"}, &stdout, &stderr)
	if code != exitOK {
		t.Errorf("exit status %d: %s", code, stderr.String())
	}
	if spans := recv.Spans(); slices.ContainsFunc(spans, func(s fakeotlp.Span) bool { return s.Name == "outside" }) {
		t.Errorf("the exports behind the link were uploaded")
	}
	after := filesIn(t, outside)
	if len(after) != len(before) {
		t.Errorf("files behind the link changed: %v, were %v", keys(after), keys(before))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s behind the link was changed or removed", name)
		}
	}
	if !strings.Contains(stderr.String(), "traces") || !strings.Contains(stderr.String(), "symbolic link") {
		t.Errorf("the run does not say that traces/ is a link it refuses:\n%s", stderr.String())
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
