package bounded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// waitDelay is how long Wait waits, once the command was killed, for
// whatever still holds its output (a process it left behind in another
// session) before closing the pipes itself.
const waitDelay = time.Second

// maxStderr is what is kept of a command's stderr: its first lines say
// why it failed.
const maxStderr = 16 << 10

// Command is exec.CommandContext in a process group of its own: when ctx
// is done, the command and every process it started are killed, and Wait
// returns at most a second later even when one of them holds the output.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// killGroup kills the command's process group, and the command itself
// should that fail.
func killGroup(cmd *exec.Cmd) error {
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err == nil {
		return nil
	}
	return cmd.Process.Kill()
}

// Output runs cmd, made by Command, and returns its standard output. More
// than max bytes of it fail with ErrTooLarge, and the command's process
// group is killed at once. Unless cmd.Stderr is set, the first part of
// stderr is kept in the *exec.ExitError, as exec's Output does.
func Output(cmd *exec.Cmd, max int) ([]byte, error) {
	out := &limitWriter{max: max, cmd: cmd}
	cmd.Stdout = out
	var stderr *limitWriter
	if cmd.Stderr == nil {
		stderr = &limitWriter{max: maxStderr, drop: true}
		cmd.Stderr = stderr
	}
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command ended, but left a process that holds its output:
		// what it printed counts, and what it left is killed.
		_ = killGroup(cmd)
		err = nil
	}
	if out.over() {
		return nil, fmt.Errorf("%s printed more than %d bytes: %w", cmd.Path, max, ErrTooLarge)
	}
	var exit *exec.ExitError
	if stderr != nil && errors.As(err, &exit) {
		exit.Stderr = stderr.bytes()
	}
	if err != nil {
		return nil, err
	}
	return out.bytes(), nil
}

// limitWriter keeps at most max bytes. Past that it drops the rest when
// drop is set; otherwise it kills cmd's process group and fails.
type limitWriter struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	max      int
	drop     bool
	cmd      *exec.Cmd
	overflow bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:max(room, 0)])
		if w.drop {
			return len(p), nil
		}
		if !w.overflow && w.cmd != nil && w.cmd.Process != nil {
			_ = killGroup(w.cmd)
		}
		w.overflow = true
		return 0, ErrTooLarge
	}
	return w.buf.Write(p)
}

func (w *limitWriter) over() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overflow
}

func (w *limitWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}
