package nixtest

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Daemon is a nix-daemon a test started: run as root, it serves the local
// store on a socket of its own that every user may connect to, as the Nix
// daemon of a multi-user install does.
type Daemon struct {
	t testing.TB
	// Socket is the path of its socket.
	Socket string
	cmd    *exec.Cmd
}

// StartDaemon starts a nix-daemon on a socket in a new directory, which
// the end of the test removes after stopping the daemon. The socket is
// made and listening before the daemon starts (the daemon takes it over
// as systemd's socket activation hands it over), so a client may connect
// at once: no waiting for the daemon to come up.
func StartDaemon(t testing.TB) *Daemon {
	t.Helper()
	Require(t)
	if os.Geteuid() != 0 {
		t.Skip("starting a nix-daemon needs root")
	}
	dir, err := os.MkdirTemp("", "nix-daemon-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "socket")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec nix-daemon`)
	cmd.ExtraFiles = []*os.File{f} // descriptor 3, the first systemd hands over
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Socket: socket, cmd: cmd}
	t.Cleanup(d.Stop)
	return d
}

// Env is the environment that points Nix, and a client, at the daemon.
func (d *Daemon) Env() []string {
	return []string{"NIX_DAEMON_SOCKET_PATH=" + d.Socket}
}

// Stop stops the daemon; connections it serves already end when their
// clients close them.
func (d *Daemon) Stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
}

// KillWorkers kills the processes serving the daemon's connections, as a
// daemon that dies (or is restarted) in the middle of an answer. It
// returns how many it killed.
func (d *Daemon) KillWorkers() int {
	d.t.Helper()
	n := 0
	for _, pid := range childrenOf(d.t, d.cmd.Process.Pid) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t testing.TB, pid int) []int {
	t.Helper()
	des, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, de := range des {
		child, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", de.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// CopyForUser copies the executable at path into a new directory every
// user may read, for a test to run it as another user.
func CopyForUser(t testing.TB, path string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nixtest-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Nobody is the unprivileged user nobody's user and group ids.
func Nobody(t testing.TB) (uid, gid uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a command as another user needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user nobody: uid %q, gid %q", u.Uid, u.Gid)
	}
	return uint32(id), uint32(g)
}

// AsNobody makes cmd run as the user nobody, without supplementary groups.
func AsNobody(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	uid, gid := Nobody(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
}

// OpenToAll lets every user reach dir: it and the directories above it, up
// to the temporary directory, become readable and searchable by all, as a
// test's temporary directories are not.
func OpenToAll(t testing.TB, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
