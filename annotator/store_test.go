package annotator

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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/fakeaxiom"
)

// notifyHandler is a slog handler that tells when a message is logged: a
// test waits on it instead of guessing how long something takes.
type notifyHandler struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func notifyLog(t *testing.T, msg string) (*slog.Logger, <-chan struct{}) {
	t.Helper()
	base, _ := testLog(t)
	ch := make(chan struct{}, 1)
	return slog.New(notifyHandler{Handler: base.Handler(), msg: msg, ch: ch}), ch
}

const waitingForLock = "another run holds the state directory"

// TestLockWaitsForClose: a second run on the same state directory waits for
// the first to close it, then gets it.
// lockStore opens the state directory and takes the delivery lock, waiting
// for it until ctx is done.
func lockStore(ctx context.Context, dir string, log *slog.Logger) (*Store, error) {
	s, err := OpenStore(dir, log)
	if err != nil {
		return nil, err
	}
	if err := s.LockDelivery(ctx, true); err != nil {
		return nil, err
	}
	return s, nil
}

// latest is the newest deploy recorded, spooled or annotated, as a Record.
func latest(t *testing.T, s *Store) Record {
	t.Helper()
	last, pending, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case pending != nil:
		return Record{Seq: pending.Seq, StorePath: pending.StorePath, Generation: pending.Generation, Time: pending.Time}
	case last != nil:
		return *last
	}
	return Record{}
}

func TestLockWaitsForClose(t *testing.T) {
	dir := t.TempDir()
	log, _ := testLog(t)
	first, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}

	waitLog, waiting := notifyLog(t, waitingForLock)
	var released atomic.Bool
	type result struct {
		s        *Store
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
	log, _ := testLog(t)
	held, err := lockStore(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	s, err := lockStore(ctx, dir, log)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrBusy) || s != nil {
		t.Fatalf("got %v, %v; want ErrBusy", s, err)
	}
	if elapsed < deadline || elapsed > deadline+margin {
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

	log, _ := testLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := lockStore(ctx, dir, log)
	cancel()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("while another process holds it: %v, want ErrBusy", err)
	}

	waitLog, waiting := notifyLog(t, waitingForLock)
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

// TestTwoRunsOneAnnotation: two runs for the same deploy at once, as a
// switch and the timer can start them, leave one annotation.
func TestTwoRunsOneAnnotation(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	const system = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host"
	log, _ := testLog(t)

	// run is what the command does: record the deploy unless it is the
	// newest recorded already, then deliver.
	run := func(now time.Time) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := OpenStore(dir, log)
		if err != nil {
			return "", err
		}
		a := New(s, Options{Sender: newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), Log: log, Settings: testSettings})
		rec, err := a.Record(ctx, testGeneration(system), now, false)
		if err != nil {
			return "", err
		}
		if rec.Entry == nil {
			return "already recorded", nil
		}
		res, err := a.Deliver(ctx, true)
		if err != nil || res.Err != nil || len(res.Delivered) != 1 {
			return "", fmt.Errorf("deliver: %+v, %v", res, err)
		}
		return "annotated", nil
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	outcomes := make([]string, 2)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, err := run(deployTime.Add(time.Duration(i) * time.Millisecond))
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
			outcomes[i] = out
		}()
	}
	close(start)
	wg.Wait()
	slices.Sort(outcomes)
	if want := []string{"already recorded", "annotated"}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %q, want %q", outcomes, want)
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("Axiom holds %d annotations, want 1", n)
	}
}

// TestSpoolInRecordingOrder: the spool gives entries back in the order
// they were recorded, whatever their clocks said, and the next run delivers
// them in that order, each with its own time, then removes them. The newest
// recorded becomes the last annotated.
func TestSpoolInRecordingOrder(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	var times []time.Time
	for _, h := range []int{5, 1, 3, 2, 4} {
		at := deployTime.Add(time.Duration(h) * time.Hour)
		times = append(times, at)
		if err := store.Add(t.Context(), testEntry(at, fmt.Sprintf("%032d-nixos-system-host", h)), 100); err != nil {
			t.Fatal(err)
		}
	}
	var got []time.Time
	for _, e := range spooled(t, store) {
		got = append(got, e.Request.Time)
	}
	if !slices.EqualFunc(got, times, time.Time.Equal) {
		t.Fatalf("spool order %v, want %v", got, times)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	if res.Err != nil || len(res.Delivered) != 5 || res.Pending != 0 {
		t.Fatalf("%+v: want all 5 delivered", res)
	}
	got = nil
	for _, a := range fake.Annotations() {
		got = append(got, a.Time)
	}
	if !slices.EqualFunc(got, times, time.Time.Equal) {
		t.Errorf("Axiom got them in the order %v, want %v", got, times)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
	if last, _ := store.LastAnnotated(); last == nil || !last.Time.Equal(times[4]) {
		t.Errorf("last %+v, want the deploy recorded last", last)
	}
}

// TestClockBehindRecordedTime: a state whose last time is in the future (a
// clock set back, a machine restored) neither duplicates the annotation on
// every run nor keeps the state from moving on.
func TestClockBehindRecordedTime(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	dir := t.TempDir()
	log, _ := testLog(t)
	future := deployTime.Add(24 * time.Hour)
	state := fmt.Sprintf(`{"version":1,"last":{"storePath":"/nix/store/%s","generation":41,"time":%q,"annotationId":"ann_old","title":"host gen 41"}}`,
		"abcdefghijklmnopqrstuv0123456789-nixos-system-old", future.Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	const system = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-host"
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := OpenStore(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		a := New(s, Options{Sender: newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), Log: log, Settings: testSettings})
		rec, err := a.Record(ctx, testGeneration(system), deployTime.Add(time.Duration(i)*time.Minute), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Deliver(ctx, true); err != nil {
			t.Fatal(err)
		}
		cancel()
		if i > 0 && rec.Entry != nil {
			t.Errorf("run %d recorded the same system again", i+1)
		}
	}
	if n := len(fake.Annotations()); n != 1 {
		t.Errorf("three runs left %d annotations, want 1", n)
	}
	s, _ := OpenStore(dir, log)
	if last, _ := s.LastAnnotated(); last == nil || last.StorePath != system {
		t.Errorf("state %+v, want the system just annotated", last)
	}
}

// TestSpoolLimit: past its limit the spool drops the oldest entries, with a
// warning for each that names what was dropped.
func TestSpoolLimit(t *testing.T) {
	logs := &logBuffer{}
	store := openStore(t, t.TempDir(), newLog(logs))
	for i := range 5 {
		e := testEntry(deployTime.Add(time.Duration(i)*time.Hour), fmt.Sprintf("%032d-nixos-system-host", i))
		e.Request.Title = fmt.Sprintf("host gen %d", i)
		if err := store.Add(t.Context(), e, 3); err != nil {
			t.Fatal(err)
		}
	}
	var titles []string
	for _, e := range spooled(t, store) {
		titles = append(titles, e.Request.Title)
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
	b, err := json.Marshal(stateFile{Version: stateVersion, Last: &Record{
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
	cases["unknown version"] = []byte(`{"version":2,"last":null}`)
	cases["no store path"] = []byte(`{"version":1,"last":{"storePath":"","time":"2026-03-14T15:09:26Z"}}`)
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			store := openStore(t, dir, newLog(logs))
			if last, _ := store.LastAnnotated(); last != nil {
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
			if last, _ := store.LastAnnotated(); last == nil || last.AnnotationID != "ann_000002" {
				t.Errorf("after a delivery, last = %+v", last)
			}
		})
	}
}

// TestCorruptSpool: a spool file that cannot be read is set aside with a
// warning; the good entries around it are delivered.
func TestCorruptSpool(t *testing.T) {
	cases := corruptions(validEntry(t))
	cases["no store path"] = []byte(`{"storePath":"","request":{"datasets":["d"],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	cases["no datasets"] = []byte(`{"storePath":"/nix/store/x","request":{"datasets":[],"type":"t","time":"2026-03-14T15:09:26Z"}}`)
	cases["no time"] = []byte(`{"storePath":"/nix/store/x","request":{"datasets":["d"],"type":"t"}}`)
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			fake := fakeaxiom.New(testToken)
			defer fake.Close()
			dir := t.TempDir()
			logs := &logBuffer{}
			log := newLog(logs)
			store := openStore(t, dir, log)
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

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
			if res.Err != nil || len(res.Delivered) != 2 || res.Pending != 0 {
				t.Fatalf("%+v: want the two good entries delivered", res)
			}
			if got := fake.Annotations(); len(got) != 2 || !got[0].Time.Equal(before.Request.Time) || !got[1].Time.Equal(after.Request.Time) {
				t.Errorf("Axiom holds %+v, want the two good entries once each", got)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("no warning:\n%s", logs)
			}
			if aside, err := os.ReadFile(bad + ".corrupt"); err != nil || string(aside) != string(content) {
				t.Errorf("not set aside whole: %v", err)
			}
			if left := spooled(t, store); len(left) != 0 {
				t.Errorf("%d entries left", len(left))
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
	logs := &logBuffer{}
	s := ReadStore(dir, newLog(logs))
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
	if s := ReadStore(filepath.Join(dir, "missing"), nil); latest(t, s).StorePath != "" {
		t.Error("a missing state directory holds something")
	}
}

// TestCrashAfterState: a run that stopped after writing the state but before
// removing the spool file left the entry behind; the next run removes it
// without sending anything.
func TestCrashAfterState(t *testing.T) {
	fake := fakeaxiom.New(testToken)
	defer fake.Close()
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
	e := testEntry(deployTime, "0123456789abcdefghijklmnopqrstuv-nixos-system-host")
	if err := store.Add(t.Context(), e, 100); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDelivered(t.Context(), e, "ann_000007"); err != nil {
		t.Fatal(err)
	}
	if err := store.saveDurably(t.Context(), e); err != nil { // the spool file the crash left
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := flushWith(ctx, store, newSender(t, fake.Endpoint(), senderOpts{token: testToken}, log), log)
	if res.Err != nil || res.Pending != 0 {
		t.Fatalf("%+v", res)
	}
	if got := requests(fake); len(got) != 0 {
		t.Errorf("sent %q, want nothing", got)
	}
	if n := len(fake.Annotations()); n != 0 {
		t.Errorf("Axiom holds %d annotations, want none sent again", n)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
	if last, _ := store.LastAnnotated(); last == nil || last.AnnotationID != "ann_000007" {
		t.Errorf("last %+v", last)
	}
}

// TestDeliveredKeepsNewest: a deploy recorded earlier but delivered late
// does not replace the one recorded after it as the last annotated, even
// when its clock said later.
func TestDeliveredKeepsNewest(t *testing.T) {
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
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
	if last, _ := store.LastAnnotated(); last == nil || last.StorePath != newer.StorePath || last.AnnotationID != "ann_000002" {
		t.Errorf("last %+v, want the newer deploy", last)
	}
	if left := spooled(t, store); len(left) != 0 {
		t.Errorf("%d entries left", len(left))
	}
}

// TestLatest: the newest deploy recorded, spooled or annotated.
func TestLatest(t *testing.T) {
	log, _ := testLog(t)
	store := openStore(t, t.TempDir(), log)
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
	if got := latest(t, store); got.StorePath != newer.StorePath || !got.Time.Equal(newer.Request.Time) {
		t.Errorf("with a newer entry spooled: %+v, want it", got)
	}
}

// TestFileModes: the state directory and its files are the service's alone.
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	log, _ := testLog(t)
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
	if err := store.update(t.Context(), waiting); err != nil {
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
	log, _ := testLog(t)
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
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseState(b)
		if err != nil {
			if r != nil {
				t.Fatalf("error %v with a record %+v", err, r)
			}
			return
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
		again, err := parseState(out)
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
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEntry(b)
		if err != nil {
			if e != nil {
				t.Fatalf("error %v with an entry %+v", err, e)
			}
			return
		}
		if e == nil || (e.StorePath == "" && !e.Rollout) || e.Time.IsZero() || (e.Request == nil && e.Deploy == nil) {
			t.Fatalf("an incomplete entry passed: %+v", e)
		}
		if e.Request != nil && (len(e.Request.Datasets) == 0 || e.Request.Type == "") {
			t.Fatalf("an incomplete request passed: %+v", e.Request)
		}
		if e.Seq >= maxSeq {
			t.Fatalf("a sequence number out of range passed: %d", e.Seq)
		}
		// What was read is written and read back the same.
		out, err := json.Marshal(e)
		if err != nil {
			return // a time outside what JSON can hold
		}
		again, err := parseEntry(out)
		if err != nil || again.Seq != e.Seq || again.MaybeSent != e.MaybeSent || !again.Unanswered.Equal(e.Unanswered) {
			t.Fatalf("read back %+v, %v; want %+v", again, err, e)
		}
	})
}
