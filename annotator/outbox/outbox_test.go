package outbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/annotation"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/testlog"
)

// deployTime is when the test deploys happened: the time each entry must
// keep.
var deployTime = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// margin is what a run may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

// statedirPoll is how often a run waiting for a lock tries again
// (internal/statedir's lockPoll).
const statedirPoll = 20 * time.Millisecond

func intp(n int) *int { return &n }

// testEntry is a spooled deploy as the command makes it, rendered.
func testEntry(at time.Time, system string) *Entry {
	return &Entry{
		StorePath:  "/nix/store/" + system,
		Generation: intp(42),
		Time:       at,
		Annotation: &annotation.Annotation{
			Datasets:    []string{"deployments", "infra"},
			Type:        "nix-deploy",
			Time:        at,
			EndTime:     at,
			Title:       "host gen 42 (" + system[:7] + ")",
			Description: "host generation 42.\nSystem: /nix/store/" + system + "\n",
		},
	}
}

func openOutbox(t *testing.T, dir string, log *slog.Logger) *Outbox {
	t.Helper()
	o, err := Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func spooled(t *testing.T, o *Outbox) []*Entry {
	t.Helper()
	p, err := o.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const waitingForLock = "another run holds the state directory"

// TestLockWaitsForClose: a second run on the same state directory waits for
// the first to close it, then gets it.
// lockStore opens the state directory and takes the delivery lock, waiting
// for it until ctx is done.
func lockStore(ctx context.Context, dir string, log *slog.Logger) (*Outbox, error) {
	s, err := Open(dir, log)
	if err != nil {
		return nil, err
	}
	if err := s.LockDelivery(ctx, true); err != nil {
		return nil, err
	}
	return s, nil
}

// latest is the newest deploy recorded, spooled or settled, as Settled.
func latest(t *testing.T, s *Outbox) Settled {
	t.Helper()
	last, pending, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case pending != nil:
		return Settled{Seq: pending.Seq, StorePath: pending.StorePath, Generation: pending.Generation, Time: pending.Time}
	case last != nil:
		return *last
	}
	return Settled{}
}

func TestLockWaitsForClose(t *testing.T) {
	dir := t.TempDir()
	log, _ := testlog.New(t)
	first, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}

	waitLog, waiting := testlog.Notify(t, waitingForLock)
	var released atomic.Bool
	type result struct {
		s        *Outbox
		err      error
		released bool
	}
	got := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := lockStore(ctx, dir, waitLog)
		got <- result{s, err, released.Load()}
	}()
	<-waiting // the second run found the lock taken
	released.Store(true)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("second run: %v", r.err)
	}
	defer r.s.Close()
	if !r.released {
		t.Error("the second run got the lock before the first let go of it")
	}
	if err := first.Close(); err != nil {
		t.Errorf("closing twice: %v", err)
	}
}

// TestLockTimeout: a run that cannot get the lock by its deadline says so.
func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	log, _ := testlog.New(t)
	held, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	const deadline = 300 * time.Millisecond
	// Timed from before the deadline is set, so that it cannot seem to
	// come early.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := lockStore(ctx, dir, log)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrBusy) || s != nil {
		t.Fatalf("got %v, %v; want ErrBusy", s, err)
	}
	// It waits for the lock until the deadline, not for a fixed time of its
	// own: it may give up as its last poll comes short of the deadline.
	if elapsed < deadline-2*statedirPoll || elapsed > deadline+margin {
		t.Errorf("gave up after %s, want at its %s deadline", elapsed, deadline)
	}
}

// TestLockAcrossProcesses: the lock holds between processes, as two runs
// started by a deploy and a timer are.
func TestLockAcrossProcesses(t *testing.T) {
	if os.Getenv("ANNOTATOR_TEST_HOLD_LOCK") != "" {
		t.Skip("the helper process's own run")
	}
	dir := t.TempDir()
	cmd, stdin := helperProcess(t, "TestHelperHoldLock", "ANNOTATOR_TEST_HOLD_LOCK", dir, "locked")

	log, _ := testlog.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := lockStore(ctx, dir, log)
	cancel()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("while another process holds it: %v, want ErrBusy", err)
	}

	waitLog, waiting := testlog.Notify(t, waitingForLock)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := lockStore(ctx, dir, waitLog)
		if err == nil {
			s.Close()
		}
		got <- err
	}()
	<-waiting
	stdin.Close() // the other process closes the store and ends
	if err := <-got; err != nil {
		t.Fatalf("after the other process ended: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper process: %v", err)
	}
}

// helperProcess starts this test binary again to run the test named test,
// with the variable env set to dir, and returns once the process printed
// the line ready. Closing stdin tells it to end.
func helperProcess(t *testing.T, test, env, dir, ready string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	found := false
	for !found && lines.Scan() {
		found = lines.Text() == ready
	}
	if !found {
		t.Fatalf("%s did not print %q: %v", test, ready, lines.Err())
	}
	go func() {
		io.Copy(io.Discard, stdout)
		stdout.Close()
	}()
	return cmd, stdin
}

// TestHelperHoldLock is the other process of TestLockAcrossProcesses: it
// holds the lock until its standard input closes.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("ANNOTATOR_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("run by TestLockAcrossProcesses")
	}
	s, err := lockStore(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	s.Close()
}

// TestSpoolLimit: past its limit the spool drops the oldest entries, with a
// warning for each that names what was dropped.
func TestSpoolLimit(t *testing.T) {
	logs := &testlog.Buffer{}
	store := openOutbox(t, t.TempDir(), testlog.To(logs))
	for i := range 5 {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Hour), fmt.Sprintf("%032d-nixos-system-host", i))
		e.Annotation.Title = fmt.Sprintf("host gen %d", i)
		if err := store.Add(t.Context(), e, 3); err != nil {
			t.Fatal(err)
		}
	}
	var titles []string
	for _, e := range spooled(t, store) {
		titles = append(titles, e.Annotation.Title)
	}
	if want := []string{"host gen 2", "host gen 3", "host gen 4"}; !slices.Equal(titles, want) {
		t.Errorf("spool holds %q, want the newest %q", titles, want)
	}
	var warnings []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "dropped") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `"host gen 0"`) || !strings.Contains(warnings[1], `"host gen 1"`) ||
		!strings.Contains(warnings[0], "limit=3") {
		t.Errorf("warnings:\n%s\nwant one for each of gen 0 and gen 1, with the limit", strings.Join(warnings, "\n"))
	}
}

// validState is a state file as Delivered writes it.
func validState(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(stateFile{Version: stateVersion, Last: &Settled{
		StorePath: "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host", Generation: intp(42),
		Time: deployTime, AnnotationID: "ann_000001", Title: "host gen 42",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validEntry(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corruptions are what a crash, a full disk or a hand edit can leave.
func corruptions(valid []byte) map[string][]byte {
	return map[string][]byte{
		"empty":          {},
		"truncated":      valid[:len(valid)/2],
		"one byte short": valid[:len(valid)-1],
		"null":           []byte("null"),
		"a list":         []byte("[1,2,3]"),
		"binary":         {0x00, 0xff, 0xfe, 0x1b, '{', 0x80},
		"zeros":          make([]byte, 4096),
		"wrong types":    []byte(`{"version":"1","last":7,"storePath":[],"request":{"time":"yesterday"}}`),
		"too large":      append([]byte(`{"version":1,"padding":"`), make([]byte, maxFile)...),
	}
}

// TestCorruptState: a state file that cannot be read is set aside with a
// warning, counts as nothing annotated, and the next delivery writes a new
// one.
func TestCorruptState(t *testing.T) {
	cases := corruptions(validState(t))
	cases["unknown version"] = []byte(`{"version":4,"last":null}`)
	cases["history without a store path"] = []byte(`{"version":3,"last":null,"history":[{"storePath":"","time":"2026-03-14T15:09:26Z"}]}`)
	cases["another system's deploy"] = []byte(`{"version":2,"last":{"storePath":"/nix/store/a","time":"2026-03-14T15:09:26Z","discovered":{"storePath":"/nix/store/b"}}}`)
	cases["no store path"] = []byte(`{"version":1,"last":{"storePath":"","time":"2026-03-14T15:09:26Z"}}`)
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &testlog.Buffer{}
			store := openOutbox(t, dir, testlog.To(logs))
			if last, _ := store.Last(); last != nil {
				t.Errorf("Last() = %+v from a corrupt file", last)
			}
			if got := latest(t, store); got.StorePath != "" {
				t.Errorf("LastDeployed() = %+v from a corrupt file", got)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("no warning:\n%s", logs)
			}
			if aside, err := os.ReadFile(path + ".corrupt"); err != nil || string(aside) != string(content) {
				t.Errorf("not set aside whole: %v", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the corrupt file is still in place: %v", err)
			}

			e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
			if err := store.Add(t.Context(), e, 100); err != nil {
				t.Fatal(err)
			}
			if err := store.MarkDelivered(t.Context(), e, "ann_000002"); err != nil {
				t.Fatal(err)
			}
			if last, _ := store.Last(); last == nil || last.AnnotationID != "ann_000002" {
				t.Errorf("after a delivery, last = %+v", last)
			}
		})
	}
}

// TestReadStorePassesOverCorrupt: a dry run reads without changing anything,
// corrupt files included.
func TestReadStorePassesOverCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"state.json", "spool/00000000000000000001-00000000.json"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testlog.Buffer{}
	s := OpenReadOnly(dir, testlog.To(logs))
	if got := latest(t, s); got.StorePath != "" {
		t.Errorf("LastDeployed() = %+v", got)
	}
	if !strings.Contains(logs.String(), "passed over") {
		t.Errorf("no warning:\n%s", logs)
	}
	for _, p := range []string{"state.json", "spool/00000000000000000001-00000000.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("a dry run moved %s: %v", p, err)
		}
	}
	if s := OpenReadOnly(filepath.Join(dir, "missing"), nil); latest(t, s).StorePath != "" {
		t.Error("a missing state directory holds something")
	}
}

// TestDeliveredKeepsNewest: a deploy recorded earlier but delivered late
// does not replace the one recorded after it as the last annotated, even
// when its clock said later.
func TestDeliveredKeepsNewest(t *testing.T) {
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	newer := testEntry(deployTime, "abcdefghijklmnopqrstuv0123456789-nixos-system-newer")
	older := testEntry(deployTime.Add(time.Hour), "0123456789abcdefghijklmnopqrstuv-nixos-system-older")
	for _, e := range []*Entry{older, newer} {
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.MarkDelivered(t.Context(), newer, "ann_000002"); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDelivered(t.Context(), older, "ann_000001"); err != nil {
		t.Fatal(err)
	}
	if last, _ := store.Last(); last == nil || last.StorePath != newer.StorePath || last.AnnotationID != "ann_000002" {
		t.Errorf("last %+v, want the newer deploy", last)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
}

// TestLatest: the newest deploy recorded, spooled or annotated.
func TestLatest(t *testing.T) {
	log, _ := testlog.New(t)
	store := openOutbox(t, t.TempDir(), log)
	if got := latest(t, store); got.StorePath != "" {
		t.Errorf("empty store: %+v", got)
	}
	annotated := testEntry(deployTime, "abcdefghijklmnopqrstuv0123456789-nixos-system-annotated")
	if err := store.Add(t.Context(), annotated, 100); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDelivered(t.Context(), annotated, "ann_000001"); err != nil {
		t.Fatal(err)
	}
	if got := latest(t, store); got.StorePath != annotated.StorePath || got.AnnotationID != "ann_000001" {
		t.Errorf("nothing spooled: %+v, want the annotated deploy", got)
	}
	newer := testEntry(deployTime.Add(time.Hour), "1123456789abcdefghijklmnopqrstuv-nixos-system-newer")
	if err := store.Add(t.Context(), newer, 100); err != nil {
		t.Fatal(err)
	}
	if got := latest(t, store); got.StorePath != newer.StorePath || !got.Time.Equal(newer.Annotation.Time) {
		t.Errorf("with a newer entry spooled: %+v, want it", got)
	}
}

// TestFileModes: the state directory and its files are the service's alone.
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	log, _ := testlog.New(t)
	store, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	delivered := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	waiting := testEntry(deployTime.Add(time.Hour), "abcdefghijklmnopqrstuv0123456789-nixos-system-next")
	for _, e := range []*Entry{delivered, waiting} {
		if err := store.Add(t.Context(), e, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.MarkDelivered(t.Context(), delivered, "ann_000001"); err != nil {
		t.Fatal(err)
	}
	if err := store.Update(t.Context(), waiting); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		"":                              0o700 | os.ModeDir,
		"spool":                         0o700 | os.ModeDir,
		"lock":                          0o600,
		"spool.lock":                    0o600,
		"state.json":                    0o600,
		"spool/" + waiting.ID + ".json": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := fi.Mode(); got != want {
			t.Errorf("%s/%s: mode %s, want %s", filepath.Base(dir), path, got, want)
		}
	}
}

// TestTemporaryFilesRemoved: what a run killed while writing left behind is
// removed by the next one, and never read as an entry.
func TestTemporaryFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	left := []string{".state.json.123456", "spool/.00000000000000000001-00000000.json.987654"}
	for _, p := range left {
		if err := os.WriteFile(filepath.Join(dir, p), validEntry(t), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := testlog.New(t)
	store, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, p := range left {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", p, err)
		}
	}
	if got := spooled(t, store); len(got) != 0 {
		t.Errorf("spool holds %d entries", len(got))
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"last":null}`))
	f.Add([]byte(`{"version":1,"last":{"storePath":"/nix/store/x","generation":3,"time":"2026-03-14T15:09:26.535Z","annotationId":"ann_1","title":"t"}}`))
	f.Add([]byte(`{"version":1,"last":{"storePath":"/nix/store/x","generation":null,"time":"2026-03-14T15:09:26+02:00"}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"last":{"storePath":"\u0000\ud800","time":"0001-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"version":1,"last":{"storePath":"x","time":"9999-12-31T23:59:59.999999999-23:59"}}`))
	f.Add([]byte(`{"version":1e400}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"version":1,"last":{"seq":18446744073709551615,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26Z","title":"t","notAnnotated":"dropped"}}`))
	f.Add([]byte(`{"version":1,"last":{"seq":-1,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26Z","notAnnotated":"\u001b]0;x\u0007"}}`))
	f.Add([]byte(`{"version":3,"last":null,"history":[{"seq":1,"storePath":"/nix/store/x","generation":2,"revision":"r","time":"2026-03-14T15:09:26Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState(b)
		r := st.Last
		if err != nil {
			if r != nil || st.History != nil {
				t.Fatalf("error %v with a record %+v", err, st)
			}
			return
		}
		if len(st.History) > HistoryLimit {
			t.Fatalf("a history of %d", len(st.History))
		}
		for _, d := range st.History {
			if d.StorePath == "" {
				t.Fatalf("a history record without a store path: %+v", d)
			}
		}
		if r == nil {
			return
		}
		if r.StorePath == "" {
			t.Fatalf("a record without a store path: %+v", r)
		}
		// What was read is written and read back the same.
		out, err := json.Marshal(stateFile{Version: stateVersion, Last: r})
		if err != nil {
			return // a time outside what JSON can hold
		}
		st, err = parseState(out)
		again := st.Last
		if err != nil || again.StorePath != r.StorePath || !again.Time.Equal(r.Time) || again.Seq != r.Seq || again.NotAnnotated != r.NotAnnotated {
			t.Fatalf("read back %+v, %v; want %+v", again, err, r)
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"storePath":"/nix/store/x","generation":3,"request":{"datasets":["d"],"type":"nix-deploy","time":"2026-03-14T15:09:26.535Z","endTime":"2026-03-14T15:09:26.535Z","title":"t","description":"d","url":"https://x"},"attempts":2,"maybeSent":true,"lastError":"e"}`))
	f.Add([]byte(`{"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`))
	f.Add([]byte(`{"storePath":"x","request":{"datasets":[""],"type":"\u202e","time":"2026-03-14T15:09:26Z","title":"\u0000\u001b[2J"},"attempts":-1}`))
	f.Add([]byte(`{"storePath":"x","request":{"datasets":null,"type":"t","time":"2026-03-14T15:09:26Z"}}`))
	f.Add([]byte(`{"request":{"time":"not a time"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"seq":4611686018427387904,"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`))
	f.Add([]byte(`{"seq":4611686018427387903,"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"},"maybeSent":true,"unansweredAt":"2026-03-14T15:10:00Z"}`))
	f.Add([]byte(`{"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"},"unansweredAt":"yesterday"}`))
	f.Add([]byte(`{"version":2,"seq":3,"storePath":"/nix/store/x","generation":3,"time":"2026-03-14T15:09:26.535Z","annotation":{"datasets":["d"],"type":"nix-deploy","time":"2026-03-14T15:09:26.535Z","title":"t"},"attempts":1}`))
	f.Add([]byte(`{"version":2,"seq":3,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26.535Z","discovered":{"number":3,"storePath":"/nix/store/x","hostname":"h"}}`))
	f.Add([]byte(`{"version":3,"storePath":"/nix/store/x","annotation":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`))
	f.Add([]byte(`{"version":2,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26Z","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntry(b)
		if err != nil {
			if e != nil {
				t.Fatalf("error %v with an entry %+v", err, e)
			}
			return
		}
		if e == nil || (e.StorePath == "" && !e.Rollout) || e.Time.IsZero() || (e.Annotation == nil && e.Discovered == nil) {
			t.Fatalf("an incomplete entry passed: %+v", e)
		}
		if e.Annotation != nil && (len(e.Annotation.Datasets) == 0 || e.Annotation.Type == "") {
			t.Fatalf("an incomplete annotation passed: %+v", e.Annotation)
		}
		if e.Seq >= maxSeq {
			t.Fatalf("a sequence number out of range passed: %d", e.Seq)
		}
		// What was read, in either version, is written in this one and
		// read back the same.
		out, err := formatEntry(e)
		if err != nil {
			return // a time outside what JSON can hold
		}
		again, err := parseEntry(out)
		if err != nil || again.Seq != e.Seq || again.MaybeSent != e.MaybeSent || !again.Unanswered.Equal(e.Unanswered) ||
			(again.Annotation == nil) != (e.Annotation == nil) || (e.Annotation != nil && again.Annotation.Title != e.Annotation.Title) ||
			(again.Discovered == nil) != (e.Discovered == nil) {
			t.Fatalf("read back %+v, %v; want %+v", again, err, e)
		}
	})
}

// TestCorruptSpool: a spool file that cannot be read is set aside with a
// warning; the good entries around it are still listed, in their order.
func TestCorruptSpool(t *testing.T) {
	cases := corruptions(validEntry(t))
	cases["no store path"] = []byte(`{"storePath":"","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	cases["no datasets"] = []byte(`{"storePath":"/nix/store/x","request":{"datasets":[],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	cases["no time"] = []byte(`{"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t"}}`)
	cases["no datasets, version 2"] = []byte(`{"version":2,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26Z","annotation":{"datasets":[],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	cases["unknown version"] = []byte(`{"version":3,"storePath":"/nix/store/x","time":"2026-03-14T15:09:26Z","annotation":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &testlog.Buffer{}
			store := openOutbox(t, dir, testlog.To(logs))
			before := testEntry(deployTime.Add(-time.Hour), "0123456789abcdefghijklmnopqrstuv-nixos-system-before")
			after := testEntry(deployTime.Add(time.Hour), "abcdefghijklmnopqrstuv0123456789-nixos-system-after")
			for _, e := range []*Entry{before, after} {
				if err := store.Add(t.Context(), e, 100); err != nil {
					t.Fatal(err)
				}
			}
			bad := filepath.Join(dir, "spool", fmt.Sprintf("%020d-00000000.json", deployTime.UnixNano()))
			if err := os.WriteFile(bad, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				got := spooled(t, store)
				if len(got) != 2 || got[0].ID != before.ID || got[1].ID != after.ID {
					t.Fatalf("spool %+v, want the two good entries in order", got)
				}
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("no warning:\n%s", logs)
			}
			if aside, err := os.ReadFile(bad + ".corrupt"); err != nil || string(aside) != string(content) {
				t.Errorf("not set aside whole: %v", err)
			}
		})
	}
}

// TestHoldSpoolUntilReaped: a run that holds the spool lock until it exits
// (HoldSpool) keeps it that long, and a record waiting for that lock goes
// on only once the process is gone, reaped by its parent (systemd, for the
// flush service, which ends the flush's job in the same step), not as soon
// as it exited: otherwise the start the record's unit asks for could be
// merged into the job of the flush that is ending.
func TestHoldSpoolUntilReaped(t *testing.T) {
	if os.Getenv("ANNOTATOR_TEST_SETTLE") != "" {
		t.Skip("the helper process's own run")
	}
	dir := t.TempDir()
	cmd, stdin := helperProcess(t, "TestHelperHoldSpool", "ANNOTATOR_TEST_SETTLE", dir, "settled")

	log, waiting := testlog.Notify(t, "not gone yet")
	store, err := Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(chan error, 1)
	go func() {
		recorded <- store.Add(context.Background(), testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host"), 100)
	}()
	stdin.Close() // the helper exits, a zombie until this process reaps it
	select {
	case <-waiting:
	case err := <-recorded:
		t.Fatalf("recorded before the settled run was reaped: %v", err)
	}
	select {
	case err := <-recorded:
		t.Fatalf("recorded before the settled run was reaped: %v", err)
	default:
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	select {
	case err := <-recorded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(endedWait):
		t.Fatal("still waiting after the settled run was reaped")
	}
}

// TestHelperHoldSpool is the other process of TestHoldSpoolUntilReaped: it
// holds the spool lock to its end, then exits when its standard input
// closes.
func TestHelperHoldSpool(t *testing.T) {
	dir := os.Getenv("ANNOTATOR_TEST_SETTLE")
	if dir == "" {
		t.Skip("run by TestHoldSpoolUntilReaped")
	}
	o, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.LockDelivery(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	o.UnlockDelivery()
	if err := o.HoldSpool(context.Background(), func([]*Entry) bool { return true }); err != nil {
		t.Fatal(err)
	}
	fmt.Println("settled")
	bufio.NewReader(os.Stdin).ReadString('\n')
	// Exits holding the spool lock.
}
