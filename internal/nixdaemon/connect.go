package nixdaemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrUnsupported is a store this client does not reach: a NIX_REMOTE it
// does not know, or no daemon and no right to start one.
var ErrUnsupported = errors.New("no Nix daemon to reach")

// StateDir is Nix's state directory: $NIX_STATE_DIR, else /nix/var/nix.
func StateDir() string {
	if d := os.Getenv("NIX_STATE_DIR"); d != "" {
		return d
	}
	return "/nix/var/nix"
}

// SocketPath is where the daemon listens: $NIX_DAEMON_SOCKET_PATH, else
// daemon-socket/socket in the state directory, as Nix has it.
func SocketPath() string {
	if p := os.Getenv("NIX_DAEMON_SOCKET_PATH"); p != "" {
		return p
	}
	return filepath.Join(StateDir(), "daemon-socket", "socket")
}

// Connect reaches the store Nix itself would use, as NIX_REMOTE says:
// "daemon" and "unix://PATH" (without parameters) are the daemon's socket;
// unset or "auto" the socket if a daemon answers there, else, for a user
// who may write the store (root, or the owner of a single-user install),
// `nix-daemon --stdio`, which serves the local store over a pipe; "local"
// is `nix-daemon --stdio` for such a user. Anything else is
// ErrUnsupported: Nix knows more stores than this client.
func Connect(ctx context.Context, log *slog.Logger) (*Client, error) {
	remote := os.Getenv("NIX_REMOTE")
	switch {
	case remote == "daemon":
		return Dial(ctx, SocketPath(), log)
	case strings.HasPrefix(remote, "unix://"):
		path := strings.TrimPrefix(remote, "unix://")
		if !filepath.IsAbs(path) || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("%w: NIX_REMOTE=%s", ErrUnsupported, remote)
		}
		return Dial(ctx, path, log)
	case remote == "" || remote == "auto":
		c, err := Dial(ctx, SocketPath(), log)
		if err == nil || !mayServeLocal() || !noDaemon(err) {
			return c, err
		}
		return Stdio(ctx, log)
	case remote == "local" && mayServeLocal():
		return Stdio(ctx, log)
	}
	return nil, fmt.Errorf("%w: NIX_REMOTE=%s", ErrUnsupported, remote)
}

// ConnectAll makes up to n connections, each as Connect does, for a walk
// over all of them (Clients.QueryPathInfos): the first, then the others
// at once, to the daemon's socket, where each is served by a worker of
// its own. A store served over a pipe (nix-daemon --stdio) gets one: two
// such processes walk slower than one (BenchmarkNixQueryPathInfos). If one
// fails, the others are closed and its error returned.
func ConnectAll(ctx context.Context, log *slog.Logger, n int) (Clients, error) {
	first, err := Connect(ctx, log)
	if err != nil {
		return nil, err
	}
	if _, pipe := first.conn.(*pipeConn); pipe || n <= 1 {
		return Clients{first}, nil
	}
	cs := make(Clients, n)
	cs[0] = first
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() { cs[i], errs[i] = Connect(ctx, log) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for _, c := range cs {
				if c != nil {
					c.Close()
				}
			}
			return nil, err
		}
	}
	return cs, nil
}

// noDaemon says whether a dial failed for want of a daemon: no socket, or
// nobody listening on it.
func noDaemon(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}

// mayServeLocal says whether this user may open the local store: root, or
// a user who can write Nix's state directory.
func mayServeLocal() bool {
	const writable = 2 // W_OK
	return os.Geteuid() == 0 || syscall.Access(StateDir(), writable) == nil
}

// Dial connects to the daemon listening on the Unix socket at path.
func Dial(ctx context.Context, path string, log *slog.Logger) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("nix daemon: %w", err)
	}
	sc, err := blocking(conn.(*net.UnixConn))
	if err != nil {
		return nil, fmt.Errorf("nix daemon: %w", err)
	}
	return newClient(ctx, sc, log, nil)
}

// socketConn is a connection to the daemon's socket read and written with
// blocking system calls. A walk reads the answers one at a time as the
// daemon writes them, and the runtime's poller would add a wait and a
// wake-up to each read: a third of the client's CPU time.
type socketConn struct {
	*os.File
	fd int
}

// blocking turns c into a socketConn.
func blocking(c *net.UnixConn) (*socketConn, error) {
	f, err := c.File() // a copy of the descriptor; c is closed
	c.Close()
	if err != nil {
		return nil, err
	}
	return &socketConn{File: f, fd: int(f.Fd())}, nil // Fd makes it blocking
}

// Close shuts the socket down first, which ends a read or write in
// progress on another goroutine, then closes it.
func (s *socketConn) Close() error {
	_ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
	return s.File.Close()
}

// Stdio starts `nix-daemon --stdio`, which serves the store on its
// standard input and output, and connects to it. Closing the client ends
// the process.
func Stdio(ctx context.Context, log *slog.Logger) (*Client, error) {
	cmd := exec.Command("nix-daemon", "--stdio")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &tail{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nix-daemon --stdio: %w", err)
	}
	// Read with blocking system calls, as a socket is (socketConn); the
	// process's end, closed by Close, ends a read in progress.
	stdout.(*os.File).Fd()
	p := &pipeConn{ReadCloser: stdout, w: stdin, cmd: cmd}
	c, err := newClient(ctx, p, log, p.wait)
	if err != nil {
		if msg := stderr.firstLine(); msg != "" {
			err = fmt.Errorf("%w (nix-daemon --stdio: %s)", err, msg)
		}
		return nil, err
	}
	return c, nil
}

// pipeConn is a connection to a nix-daemon --stdio process: its standard
// output to read, its standard input to write.
type pipeConn struct {
	io.ReadCloser
	w   io.WriteCloser
	cmd *exec.Cmd
}

func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close closes the process's input, which ends it, and the output.
func (p *pipeConn) Close() error {
	err := p.w.Close()
	if rerr := p.ReadCloser.Close(); err == nil {
		err = rerr
	}
	return err
}

// wait waits for the process to end, a second at most, then kills it.
func (p *pipeConn) wait() error {
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	return nil
}

// tail keeps the first few kilobytes a process writes to stderr.
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 4096 - t.buf.Len(); room > 0 {
		t.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (t *tail) firstLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(t.buf.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}
