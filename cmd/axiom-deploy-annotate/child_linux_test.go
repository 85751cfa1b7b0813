package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal, skipping the test where there is
// none.
func openPTY(t *testing.T) (terminal, tty *os.File) {
	t.Helper()
	terminal, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { terminal.Close() })
	fd := int(terminal.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return terminal, tty
}

// TestRunChildTerminalInterrupt: a Ctrl-C at the terminal reaches the
// command once, from the terminal, and is not sent on a second time.
func TestRunChildTerminalInterrupt(t *testing.T) {
	terminal, tty := openPTY(t)
	// The parent leads a session on the terminal, in its foreground, like
	// a command typed at a shell.
	attr := &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	script := `trap "echo int" INT; trap "echo term; exit 7" TERM; echo ready; while :; do sleep 0.1; done`
	cmd, lines := startParent(t, script, attr, tty)

	if _, err := terminal.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	if line, err := lines.ReadString('\n'); line != "int\n" {
		t.Fatalf("after Ctrl-C the command said %q, %v", line, err)
	}
	// The terminal's interrupt reached the parent too. Had it sent it on,
	// the command would say "int" again before it says "term".
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if line, err := lines.ReadString('\n'); line != "term\n" {
		t.Errorf("after SIGTERM the command said %q, %v; want term", line, err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("the parent ended with %v, want exit status 7", err)
	}
}
