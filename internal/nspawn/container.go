package nspawn

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bind is a host path bound into the container.
type Bind struct {
	Host, Container string
	ReadOnly        bool
}

// Container is a booted container.
type Container struct {
	t    testing.TB
	name string
	// PID is the container's PID 1 as the host sees it.
	PID  int
	cmd  *exec.Cmd
	done chan error
	out  string
}

// env is the environment of what runs in the container: nothing of the
// test's own (NIX_CONFIG, say) leaks in.
var env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_LESS="}

// Boot boots systemd in root, whose changes are kept in memory and lost
// at the end (the root itself stays as it was), with its own network
// (loopback only) and the binds. It returns once the boot finished, and
// shuts the container down when the test ends.
//
// systemd-nspawn runs without machined (--register=no --keep-unit), so it
// is started inside control groups of its own, in the named systemd
// hierarchy and in the unified one, which it hands to the container.
func Boot(t testing.TB, root string, binds ...Bind) *Container {
	t.Helper()
	c := &Container{t: t, name: fmt.Sprintf("ada-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6), done: make(chan error, 1)}
	for _, h := range c.cgroups() {
		if err := os.Mkdir(h, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--quiet", "--register=no", "--keep-unit", "--boot", "--private-network",
		"--console=passive", "--volatile=overlay", "--directory=" + root, "--machine=" + c.name}
	for _, b := range binds {
		opt := "--bind="
		if b.ReadOnly {
			opt = "--bind-ro="
		}
		args = append(args, opt+b.Host+":"+b.Container)
	}
	script := fmt.Sprintf(`echo $$ > %s/cgroup.procs && echo $$ > %s/cgroup.procs && exec systemd-nspawn "$@"`, c.cgroups()[0], c.cgroups()[1])
	c.cmd = exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	c.cmd.Env = env
	c.out = filepath.Join(t.TempDir(), "nspawn.log")
	out, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(c.shutdown)

	if err := c.waitBooted(); err != nil {
		t.Fatalf("the container did not boot: %v\n%s", err, c.output())
	}
	return c
}

// cgroups are the container's control groups: named systemd, unified.
func (c *Container) cgroups() []string {
	return []string{"/sys/fs/cgroup/systemd/" + c.name, "/sys/fs/cgroup/unified/" + c.name}
}

// waitBooted finds PID 1 and waits for systemd to finish booting.
func (c *Container) waitBooted() error {
	deadline := time.Now().Add(60 * time.Second)
	procs := filepath.Join(c.cgroups()[1], "payload", "init.scope", "cgroup.procs")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.PID == 0 {
		if b, err := os.ReadFile(procs); err == nil {
			c.PID, _ = strconv.Atoi(strings.Fields(string(b) + " 0")[0])
		}
		if c.PID != 0 {
			break
		}
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("systemd-nspawn exited: %v", err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return errors.New("no PID 1 after 60 s")
		}
	}
	// systemctl fails until the manager listens; then it waits for the
	// boot to finish.
	for {
		out, err := c.Run("systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("systemctl is-system-running: %s (%v)", state, err)
		}
		<-tick.C
	}
}

// shutdown halts the container (systemd-nspawn passes SIGTERM on as a
// halt request), kills it if it does not end, and removes its control
// groups.
func (c *Container) shutdown() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.t.Errorf("the container did not halt within 30 s; killed")
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	for _, h := range c.cgroups() {
		removeCgroup(h)
	}
}

// removeCgroup removes a control group and those beneath it, deepest
// first.
func removeCgroup(dir string) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if de.IsDir() {
			removeCgroup(filepath.Join(dir, de.Name()))
		}
	}
	os.Remove(dir)
}

func (c *Container) output() string {
	b, _ := os.ReadFile(c.out)
	return tail(b, 30)
}

// Command is a command run inside the container, in all its namespaces.
func (c *Container) Command(args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.PID), "-a"}, args...)...)
	cmd.Env = env
	return cmd
}

// Run runs a command inside the container and returns what it printed,
// standard error after standard output.
func (c *Container) Run(args ...string) (string, error) {
	cmd := c.Command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out) + stderr.String(), err
}

// MustRun runs a command inside the container and fails the test if it
// fails.
func (c *Container) MustRun(args ...string) string {
	c.t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
