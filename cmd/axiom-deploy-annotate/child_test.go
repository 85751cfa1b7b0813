package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunChildStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		exit   int
		signal string
		shell  int
	}{
		{"exit 0", 0, "", 0},
		{"exit 3", 3, "", 3},
		{"kill -TERM $$", -1, "SIGTERM", 143},
		{"kill -KILL $$", -1, "SIGKILL", 137},
		{"kill -INT $$", -1, "SIGINT", 130},
	} {
		before := time.Now()
		res, err := runChild(context.Background(), []string{"sh", "-c", tc.script}, nil, nil, io.Discard, io.Discard)
		if err != nil {
			t.Errorf("%s: %v", tc.script, err)
			continue
		}
		if res.ExitCode != tc.exit || res.SignalName() != tc.signal || res.ShellStatus() != tc.shell {
			t.Errorf("%s: exit %d, signal %q, shell status %d; want %d, %q, %d", tc.script, res.ExitCode, res.SignalName(), res.ShellStatus(), tc.exit, tc.signal, tc.shell)
		}
		if res.Start.Before(before) || res.End.Before(res.Start) || time.Now().Before(res.End) {
			t.Errorf("%s: started %s, ended %s, called at %s", tc.script, res.Start, res.End, before)
		}
	}
}

func TestRunChildCannotStart(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "deploy.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv   []string
		status int
		msg    string
	}{
		{[]string{"no-such-command-here", "apply"}, 127, "no-such-command-here: command not found"},
		{[]string{filepath.Join(dir, "missing")}, 127, filepath.Join(dir, "missing") + ": no such file or directory"},
		{[]string{notExec}, 126, notExec + ": permission denied"},
		{[]string{dir}, 126, dir + ": permission denied"},
		{nil, 127, "'': command not found"},
	} {
		res, err := runChild(context.Background(), tc.argv, nil, nil, io.Discard, io.Discard)
		var se *startError
		if !errors.As(err, &se) || res.ShellStatus() != tc.status || err.Error() != tc.msg {
			t.Errorf("%q: status %d, %v; want %d, %q", tc.argv, res.ShellStatus(), err, tc.status, tc.msg)
		}
	}
}

// TestRunChildOutput: what the command writes reaches the files given,
// byte for byte, stdout and stderr apart; and so it does through writers
// that are no files.
func TestRunChildOutput(t *testing.T) {
	want := make([]byte, 1<<20)
	rand.Read(want)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, want, 0o644); err != nil {
		t.Fatal(err)
	}
	argv := []string{"sh", "-c", `cat "$1"; printf 'to stderr' >&2`, "sh", data}

	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	read := func(r *os.File) <-chan []byte {
		c := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(r)
			r.Close()
			c <- b
		}()
		return c
	}
	gotOut, gotErr := read(outR), read(errR)
	res, err := runChild(context.Background(), argv, nil, nil, outW, errW)
	outW.Close()
	errW.Close()
	if err != nil || res.ShellStatus() != 0 {
		t.Fatalf("status %d, %v", res.ShellStatus(), err)
	}
	if got := <-gotOut; !bytes.Equal(got, want) {
		t.Errorf("stdout: %d bytes, not the %d written", len(got), len(want))
	}
	if got := <-gotErr; string(got) != "to stderr" {
		t.Errorf("stderr: %q", got)
	}

	var out, errOut bytes.Buffer
	res, err = runChild(context.Background(), argv, nil, nil, &out, &errOut)
	if err != nil || res.ShellStatus() != 0 || !bytes.Equal(out.Bytes(), want) || errOut.String() != "to stderr" {
		t.Errorf("through buffers: status %d, %v, %d bytes, stderr %q", res.ShellStatus(), err, out.Len(), errOut.String())
	}
}

func TestRunChildStdin(t *testing.T) {
	var out bytes.Buffer
	res, err := runChild(context.Background(), []string{"cat"}, nil, strings.NewReader("yes\n"), &out, io.Discard)
	if err != nil || res.ShellStatus() != 0 || out.String() != "yes\n" {
		t.Errorf("status %d, %v, %q", res.ShellStatus(), err, out.String())
	}
}

func TestRunChildEnv(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	t.Setenv("TRACEPARENT", "00-11111111111111111111111111111111-2222222222222222-01")
	t.Setenv("TRACESTATE", "outer=1")
	t.Setenv("ROLLOUT_TEST_KEPT", "kept")
	script := `printf '%s|%s|%s' "$TRACEPARENT" "${TRACESTATE-unset}" "$ROLLOUT_TEST_KEPT"`

	env := childEnv(os.Environ(), map[string]string{"TRACEPARENT": tp, "TRACESTATE": ""})
	var out bytes.Buffer
	if _, err := runChild(context.Background(), []string{"sh", "-c", script}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := tp + "|unset|kept"; out.String() != want {
		t.Errorf("the command saw %q, want %q", out.String(), want)
	}

	// Without env, the command has this process's.
	out.Reset()
	if _, err := runChild(context.Background(), []string{"sh", "-c", script}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "00-11111111111111111111111111111111-2222222222222222-01|outer=1|kept"; out.String() != want {
		t.Errorf("the command saw %q, want %q", out.String(), want)
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"A=1", "TRACEPARENT=old", "B=2=3", "TRACESTATE=old", "NOEQUALS"}, map[string]string{"TRACESTATE": "", "TRACEPARENT": "new", "C": "4"})
	want := []string{"A=1", "B=2=3", "NOEQUALS", "C=4", "TRACEPARENT=new"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("childEnv = %q, want %q", got, want)
	}
}

// TestRunChildCanceled: when ctx is done the command is asked to stop.
func TestRunChildCanceled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		if line == "ready\n" {
			cancel()
		}
	}()
	res, err := runChild(ctx, []string{"sh", "-c", "echo ready; while :; do sleep 0.1; done"}, nil, nil, w, io.Discard)
	w.Close()
	if err != nil || res.SignalName() != "SIGTERM" || res.ShellStatus() != 143 {
		t.Errorf("signal %q, status %d, %v; want SIGTERM, 143", res.SignalName(), res.ShellStatus(), err)
	}
}

// The parent process of TestRunChildForwardsSignals: it runs the command
// given in its environment and exits as a shell would.
func TestHelperRolloutParent(t *testing.T) {
	script := os.Getenv("ROLLOUT_TEST_PARENT")
	if script == "" {
		t.Skip("the parent process of TestRunChildForwardsSignals")
	}
	res, err := runChild(context.Background(), []string{"sh", "-c", script}, nil, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
	}
	os.Exit(res.ShellStatus())
}

// startParent starts this test binary as a parent running script through
// runChild, in a session of its own, and waits for the command to say
// "ready". Should the test hang, both are killed after a minute.
func startParent(t *testing.T, script string, attr *syscall.SysProcAttr, stdin *os.File) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRolloutParent$")
	cmd.Env = append(os.Environ(), "ROLLOUT_TEST_PARENT="+script)
	attr.Setsid = true
	cmd.SysProcAttr = attr
	cmd.Stdin = stdin
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The session leader's process group holds the parent and the command.
	watchdog := time.AfterFunc(time.Minute, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	t.Cleanup(func() {
		watchdog.Stop()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	lines := bufio.NewReader(stdout)
	if line, err := lines.ReadString('\n'); line != "ready\n" {
		t.Fatalf("the command did not start: %q, %v", line, err)
	}
	return cmd, lines
}

// TestRunChildForwardsSignals: SIGTERM and SIGINT sent to this process reach
// the command, and the command's own exit status comes back.
func TestRunChildForwardsSignals(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		trap string
	}{
		{syscall.SIGTERM, "TERM"},
		{syscall.SIGINT, "INT"},
	} {
		t.Run(tc.trap, func(t *testing.T) {
			// Without a terminal.
			cmd, _ := startParent(t, `trap "exit 7" `+tc.trap+`; echo ready; while :; do sleep 0.1; done`, &syscall.SysProcAttr{}, nil)
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 7 {
				t.Errorf("the parent ended with %v, want exit status 7", err)
			}
		})
	}
}
