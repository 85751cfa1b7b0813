package nixdaemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

var (
	systemOnce sync.Once
	systemPath string
)

// bigSystem is a system of about 3000 store paths that refer to each
// other, built once per test process.
func bigSystem(t testing.TB) string {
	t.Helper()
	nixtest.Require(t)
	systemOnce.Do(func() {
		before, _ := nixtest.BigSystems(3000)
		systemPath = nixtest.BuildBig(t, before)[0]
	})
	if systemPath == "" {
		t.Fatal("building the system failed earlier")
	}
	return systemPath
}

// closure walks the closure of root and returns each path's info. Each
// answer goes to hook, which may fail the walk.
func closure(ctx context.Context, c interface {
	QueryPathInfos(context.Context, []string, func(*PathInfo, *Queue) error) error
}, root string, hook func(n int)) (map[string]*PathInfo, error) {
	got := map[string]*PathInfo{}
	seen := map[string]bool{root: true}
	err := c.QueryPathInfos(ctx, []string{root}, func(info *PathInfo, q *Queue) error {
		got[info.Path] = info
		if hook != nil {
			hook(len(got))
		}
		for _, r := range info.References {
			if !seen[r] {
				seen[r] = true
				q.Add(r)
			}
		}
		return nil
	})
	return got, err
}

func nixLines(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// checkClosure compares a walked closure with what the Nix commands say:
// its paths, their references and the closure's size.
func checkClosure(t *testing.T, root string, got map[string]*PathInfo) {
	t.Helper()
	want := nixLines(t, "nix-store", "--query", "--requisites", root)
	paths := make([]string, 0, len(got))
	var size uint64
	for p, info := range got {
		paths = append(paths, p)
		size += info.NarSize
	}
	slices.Sort(paths)
	slices.Sort(want)
	if !slices.Equal(paths, want) {
		t.Fatalf("walked %d paths; nix-store --query --requisites gives %d", len(paths), len(want))
	}
	f := nixLines(t, "nix", "path-info", "--closure-size", root)
	if s := strconv.FormatUint(size, 10); s != f[len(f)-1] {
		t.Errorf("closure size %s; nix path-info --closure-size says %s", s, f[len(f)-1])
	}
	refs := nixLines(t, "nix-store", "--query", "--references", root)
	slices.Sort(refs)
	mine := slices.Sorted(slices.Values(got[root].References))
	if !slices.Equal(mine, refs) {
		t.Errorf("references of the root: %d, nix-store --query --references: %d", len(mine), len(refs))
	}
}

// transports are the two ways to reach a daemon: its socket, and
// nix-daemon --stdio.
func transports(t testing.TB) map[string]func(ctx context.Context) (*Client, error) {
	d := nixtest.StartDaemon(t)
	return map[string]func(ctx context.Context) (*Client, error){
		"socket": func(ctx context.Context) (*Client, error) { return Dial(ctx, d.Socket, nil) },
		"stdio":  func(ctx context.Context) (*Client, error) { return Stdio(ctx, nil) },
	}
}

func TestNixQueryPathInfos(t *testing.T) {
	root := bigSystem(t)
	nixVersion := nixLines(t, "nix-daemon", "--version")
	for name, connect := range transports(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			proto, nix := c.Version()
			t.Logf("protocol %s, Nix %s", proto, nix)
			if nix != nixVersion[len(nixVersion)-1] || proto < "1.17" || proto > "1.35" {
				t.Errorf("Version() = %s, %s; nix-daemon --version says %s", proto, nix, nixVersion)
			}
			got, err := closure(ctx, c, root, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkClosure(t, root, got)

			// The connection serves further requests.
			again, err := closure(ctx, c, root, nil)
			if err != nil || len(again) != len(got) {
				t.Errorf("second walk: %d paths, %v; want %d", len(again), err, len(got))
			}
		})
	}
}

func TestNixDaemonErrors(t *testing.T) {
	root := bigSystem(t)
	for name, connect := range transports(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			missing := "/nix/store/00000000000000000000000000000000-missing"
			c, err := connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = closure(ctx, c, missing, nil)
			var ip *InvalidPathError
			if !errors.As(err, &ip) || ip.Path != missing || err.Error() != "path '"+missing+"' is not valid" {
				t.Errorf("walking a missing path: %v; want an InvalidPathError", err)
			}
			// A path outside the store is refused by the daemon itself.
			c, err = connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = closure(ctx, c, "/etc/passwd", nil)
			var de *DaemonError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), "not in the Nix store") || strings.Contains(err.Error(), "\n") {
				t.Errorf("walking a path outside the store: %v; want one line from the daemon", err)
			}
			// An error ends the walk and closes the client; a new one walks.
			c, err = connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := closure(ctx, c, root, nil); err != nil {
				t.Errorf("walk after errors: %v", err)
			}
		})
	}
}

// TestNixDaemonKilledMidWalk kills the process answering in the middle of
// a walk (the daemon's worker for the socket, nix-daemon --stdio itself):
// the walk ends with a one-line error instead of hanging, and a new
// connection walks the closure whole.
func TestNixDaemonKilledMidWalk(t *testing.T) {
	root := bigSystem(t)
	d := nixtest.StartDaemon(t)
	kills := map[string]struct {
		connect func(ctx context.Context) (*Client, error)
		kill    func(c *Client) int
	}{
		"socket": {func(ctx context.Context) (*Client, error) { return Dial(ctx, d.Socket, nil) }, func(*Client) int { return d.KillWorkers() }},
		"stdio": {func(ctx context.Context) (*Client, error) { return Stdio(ctx, nil) }, func(c *Client) int {
			if c.conn.(*pipeConn).cmd.Process.Signal(syscall.SIGKILL) != nil {
				return 0
			}
			return 1
		}},
	}
	for name, k := range kills {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := k.connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			killed := 0
			got, err := closure(ctx, c, root, func(n int) {
				if n == 100 {
					killed = k.kill(c)
				}
			})
			if killed != 1 {
				t.Fatalf("killed %d processes, want 1", killed)
			}
			if err == nil || ctx.Err() != nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("walk with the daemon killed after 100 answers: %d paths, error %v; want a one-line error", len(got), err)
			}
			t.Logf("after %d answers: %v", len(got), err)
			c, err = k.connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			again, err := closure(ctx, c, root, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkClosure(t, root, again)
		})
	}
}

// TestNixClientsWalk walks the closure over two connections to the
// daemon, each served by a worker of its own: the closure comes whole,
// and killing the workers in the middle of a walk ends it with a one-line
// error, as with one connection.
func TestNixClientsWalk(t *testing.T) {
	root := bigSystem(t)
	d := nixtest.StartDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func() Clients {
		t.Setenv("NIX_REMOTE", "daemon")
		t.Setenv("NIX_DAEMON_SOCKET_PATH", d.Socket)
		cs, err := ConnectAll(ctx, nil, 2)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	cs := connect()
	got, err := closure(ctx, cs, root, nil)
	cs.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkClosure(t, root, got)

	cs = connect()
	defer cs.Close()
	killed := 0
	got, err = closure(ctx, cs, root, func(n int) {
		if n == 100 {
			killed = d.KillWorkers()
		}
	})
	if killed != 2 {
		t.Fatalf("killed %d workers, want 2", killed)
	}
	if err == nil || ctx.Err() != nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("walk with the workers killed after 100 answers: %d paths, error %v; want a one-line error", len(got), err)
	}
	t.Logf("after %d answers: %v", len(got), err)
}

func TestNixConnect(t *testing.T) {
	nixtest.Require(t)
	d := nixtest.StartDaemon(t)
	for _, tc := range []struct {
		remote, socket string
		// want is "socket", "stdio" or an error the connection fails with.
		want string
	}{
		{"daemon", d.Socket, "socket"},
		{"unix://" + d.Socket, "/nonexistent", "socket"},
		{"", d.Socket, "socket"},
		{"auto", d.Socket, "socket"},
		{"", "/nonexistent/socket", "stdio"},
		{"local", d.Socket, "stdio"},
		{"daemon", "/nonexistent/socket", "no such file"},
		{"unix://relative/socket", d.Socket, ErrUnsupported.Error()},
		{"unix://" + d.Socket + "?max-connections=1", d.Socket, ErrUnsupported.Error()},
		{"local?root=/tmp/x", d.Socket, ErrUnsupported.Error()},
		{"ssh-ng://builder", d.Socket, ErrUnsupported.Error()},
	} {
		t.Run(fmt.Sprintf("%q", tc.remote), func(t *testing.T) {
			t.Setenv("NIX_REMOTE", tc.remote)
			t.Setenv("NIX_DAEMON_SOCKET_PATH", tc.socket)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Connect(ctx, nil)
			got := ""
			switch {
			case err != nil:
				got = err.Error()
			case c.closing != nil:
				got = "stdio"
				c.Close()
			default:
				got = "socket"
				c.Close()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("Connect: %s; want %s", got, tc.want)
			}
		})
	}
}

// TestNixQueryPathInfosUnprivileged walks a closure as the user nobody,
// through the daemon, as a service's user does: this test binary
// runs itself as nobody.
func TestNixQueryPathInfosUnprivileged(t *testing.T) {
	if os.Getenv("NIXDAEMON_WALK") != "" {
		walkAndPrint(t, os.Getenv("NIXDAEMON_WALK"))
		return
	}
	root := bigSystem(t)
	d := nixtest.StartDaemon(t)
	cmd := exec.Command(nixtest.CopyForUser(t, os.Args[0]), "-test.run=^TestNixQueryPathInfosUnprivileged$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NIXDAEMON_WALK="+root, "NIX_REMOTE=", "HOME=/nonexistent")
	cmd.Env = append(cmd.Env, d.Env()...)
	nixtest.AsNobody(t, cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk as nobody: %v\n%s", err, out)
	}
	var n int
	var size uint64
	if _, err := fmt.Sscanf(lastLine(string(out)), "walked %d paths of %d bytes", &n, &size); err != nil {
		t.Fatalf("walk as nobody printed %q", out)
	}
	want := nixLines(t, "nix-store", "--query", "--requisites", root)
	f := nixLines(t, "nix", "path-info", "--closure-size", root)
	if n != len(want) || strconv.FormatUint(size, 10) != f[len(f)-1] {
		t.Errorf("as nobody: %d paths of %d bytes; nix says %d of %s", n, size, len(want), f[len(f)-1])
	}
}

func walkAndPrint(t *testing.T, root string) {
	if u, err := user.Current(); err != nil || u.Username != "nobody" {
		t.Fatalf("running as %v, %v; want nobody", u, err)
	}
	c, err := Connect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.closing != nil {
		t.Fatal("reached the store through nix-daemon --stdio, not the daemon")
	}
	got, err := closure(context.Background(), c, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size uint64
	for _, info := range got {
		size += info.NarSize
	}
	fmt.Fprintf(os.Stdout, "walked %d paths of %d bytes\n", len(got), size)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "walked ") {
			return lines[i]
		}
	}
	return ""
}

// TestNixWalkCancelled ends the context in the middle of a walk: the walk
// returns at once with the context's error, though a read was waiting on
// the daemon.
func TestNixWalkCancelled(t *testing.T) {
	root := bigSystem(t)
	for name, connect := range transports(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := closure(ctx, c, root, func(n int) {
				if n == 100 {
					cancel()
				}
			})
			if !errors.Is(err, context.Canceled) || len(got) >= 3000 {
				t.Errorf("walk cancelled after 100 answers: %d paths, %v; want context.Canceled", len(got), err)
			}
		})
	}
}

// TestNixConnectAll: two connections to the daemon's socket, each served
// by a worker of its own; one to a store served over a pipe, where a second
// nix-daemon --stdio would only slow the walk.
func TestNixConnectAll(t *testing.T) {
	nixtest.Require(t)
	d := nixtest.StartDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Setenv("NIX_DAEMON_SOCKET_PATH", d.Socket)
	for remote, want := range map[string]int{"daemon": 2, "local": 1} {
		t.Setenv("NIX_REMOTE", remote)
		cs, err := ConnectAll(ctx, nil, 2)
		if err != nil {
			t.Fatalf("NIX_REMOTE=%s: %v", remote, err)
		}
		if len(cs) != want {
			t.Errorf("NIX_REMOTE=%s: %d connections, want %d", remote, len(cs), want)
		}
		cs.Close()
	}
	t.Setenv("NIX_REMOTE", "daemon")
	t.Setenv("NIX_DAEMON_SOCKET_PATH", "/nonexistent/socket")
	if cs, err := ConnectAll(ctx, nil, 2); err == nil || cs != nil {
		t.Errorf("no daemon: %d connections, error %v; want none and an error", len(cs), err)
	}
}
