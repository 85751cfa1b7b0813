package bounded

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// margin is what a call may take past its deadline: returning, not waiting.
const margin = 2 * time.Second

// TestReadFile: regular files and pipes are read within the bound; a FIFO
// nobody writes reads as empty at once, one whose writer sends nothing
// ends at the deadline; devices and directories are refused unread.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	if err := os.WriteFile(small, []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 101), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(small, 100, time.Time{}); err != nil || string(b) != "token\n" {
		t.Errorf("small: %q, %v", b, err)
	}
	if _, err := ReadFile(big, 100, time.Time{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big: %v, want ErrTooLarge", err)
	}
	for _, p := range []string{"/dev/zero", "/dev/null", dir} {
		if _, err := ReadFile(p, 100, time.Time{}); !errors.Is(err, ErrNotFile) {
			t.Errorf("%s: %v, want ErrNotFile", p, err)
		}
	}
	if b, err := ReadFile(fifo, 100, time.Now().Add(time.Minute)); err != nil || len(b) != 0 {
		t.Errorf("fifo without a writer: %q, %v; want it empty at once", b, err)
	}
	if _, err := ReadRegular(fifo, 100); !errors.Is(err, ErrNotFile) {
		t.Errorf("ReadRegular of a fifo: %v, want ErrNotFile", err)
	}

	// A writer that holds the FIFO open and sends nothing.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const deadline = 300 * time.Millisecond
	start := time.Now()
	_, err = ReadFile(fifo, 100, time.Now().Add(deadline))
	if elapsed := time.Since(start); elapsed > deadline+margin {
		t.Errorf("read took %s, past its %s deadline", elapsed, deadline)
	}
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("silent writer: %v, want the deadline", err)
	}
	// One that sends too much.
	if _, err := w.Write(bytes.Repeat([]byte("x"), 200)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(fifo, 100, time.Now().Add(deadline)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("flooding writer: %v, want ErrTooLarge", err)
	}
}

// TestOutput: a command's output is bounded (the command is killed past
// the bound), a deadline kills its process group, children holding the
// output included, and a command that ended leaving such a child gives
// what it printed.
func TestOutput(t *testing.T) {
	sh := func(ctx context.Context, script string) *exec.Cmd { return Command(ctx, "sh", "-c", script) }
	ctx := context.Background()
	if out, err := Output(sh(ctx, "echo hello"), 100); err != nil || string(out) != "hello\n" {
		t.Errorf("echo: %q, %v", out, err)
	}
	if _, err := Output(sh(ctx, "exec yes"), 1000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("yes: %v, want ErrTooLarge", err)
	}
	_, err := Output(sh(ctx, "echo why >&2; exit 3"), 100)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || strings.TrimSpace(string(exit.Stderr)) != "why" {
		t.Errorf("failing command: %v, want its stderr kept", err)
	}
	if out, err := Output(sh(ctx, "echo done; sleep 30 &"), 100); err != nil || string(out) != "done\n" {
		t.Errorf("ended leaving a child: %q, %v", out, err)
	}

	const deadline = 300 * time.Millisecond
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	if _, err := Output(sh(dctx, "sleep 30 & sleep 30"), 100); err == nil {
		t.Error("no error at the deadline")
	}
	if elapsed := time.Since(start); elapsed > deadline+margin {
		t.Errorf("took %s, past its %s deadline", elapsed, deadline)
	}
}
