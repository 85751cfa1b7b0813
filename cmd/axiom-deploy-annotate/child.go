package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childResult is how the command a rollout runs ended.
type childResult struct {
	Start, End time.Time
	// ExitCode is the command's exit status, -1 when a signal killed it.
	ExitCode int
	// Signal killed the command, or is 0.
	Signal syscall.Signal
}

// ShellStatus is the status a shell would report for the command: its exit
// status, or 128 plus the signal that killed it.
func (r childResult) ShellStatus() int {
	if r.Signal != 0 {
		return 128 + int(r.Signal)
	}
	return r.ExitCode
}

// SignalName is the signal that killed the command, such as "SIGTERM", or "".
func (r childResult) SignalName() string {
	if r.Signal == 0 {
		return ""
	}
	if name := unix.SignalName(r.Signal); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(r.Signal))
}

// describe says how the command ended: "exit 3", "killed by SIGTERM".
func (r childResult) describe() string {
	if r.Signal != 0 {
		return "killed by " + r.SignalName()
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

// startError is a command that could not be started. Its status is what a
// shell exits with: 127 when the command is not found, 126 when it cannot
// be run.
type startError struct {
	status int
	name   string
	err    error
}

func (e *startError) Error() string {
	if e.status == 127 && errors.Is(e.err, exec.ErrNotFound) {
		return e.name + ": command not found"
	}
	var pathErr *fs.PathError
	if errors.As(e.err, &pathErr) {
		return e.name + ": " + pathErr.Err.Error()
	}
	return e.name + ": " + e.err.Error()
}

func (e *startError) Unwrap() error { return e.err }

// childKillDelay is how long the command has to end after ctx is done and
// it was sent SIGTERM, before it is killed.
const childKillDelay = 10 * time.Second

// runChild runs argv as a command with env (nil: this process's), stdin,
// stdout and stderr, passed through as they are: given *os.File, the command
// writes to the same files, unbuffered. While it runs, SIGINT and SIGTERM
// sent to this process are sent on to it. When ctx is done the command gets
// SIGTERM, and SIGKILL childKillDelay later.
//
// A command that cannot be started gives a *startError, and the result's
// ShellStatus is then 127 or 126, as from a shell. Otherwise the error is
// nil unless the command's output could not be copied; the result holds how
// it ended either way.
func runChild(ctx context.Context, argv []string, env []string, stdin io.Reader, stdout, stderr io.Writer) (childResult, error) {
	if len(argv) == 0 {
		return childResult{ExitCode: 127}, &startError{127, "''", exec.ErrNotFound}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = childKillDelay

	// Listen before the start, so that no signal is missed in between.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	res := childResult{Start: time.Now()}
	if err := cmd.Start(); err != nil {
		res.End = time.Now()
		res.ExitCode = 126
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			res.ExitCode = 127
		}
		return res, &startError{res.ExitCode, strings.TrimSpace(argv[0]), err}
	}

	done := make(chan struct{})
	forwarding := make(chan struct{})
	go func() {
		defer close(forwarding)
		for {
			select {
			case <-done:
				return
			case sig := <-signals:
				if sig == syscall.SIGINT && terminalInterrupts() {
					continue
				}
				_ = cmd.Process.Signal(sig)
			}
		}
	}()
	err := cmd.Wait()
	res.End = time.Now()
	close(done)
	<-forwarding

	state := cmd.ProcessState
	if state == nil {
		return res, err
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.ExitCode, res.Signal = -1, ws.Signal()
	} else {
		res.ExitCode = state.ExitCode()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) && ctx.Err() == nil {
		return res, fmt.Errorf("passing on the output of %s: %w", argv[0], err)
	}
	return res, nil
}

// terminalInterrupts reports whether this process is in the foreground of
// its terminal. A Ctrl-C then interrupts the whole process group, the
// command included, and sending it on would deliver it twice: to tools that
// read a second interrupt as "stop now", that is not the same.
func terminalInterrupts() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// childEnv is environ with vars set, each replacing what environ holds
// under its name; an empty value removes the name, so that a TRACESTATE
// this process was given does not reach the command beside a new
// TRACEPARENT.
func childEnv(environ []string, vars map[string]string) []string {
	env := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[name]; !ok {
			env = append(env, kv)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if value := vars[name]; value != "" {
			env = append(env, name+"="+value)
		}
	}
	return env
}
