package nixinfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixdaemon"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
)

// counted is a connection to the daemon that counts the paths asked about
// and may do something after a number of answers.
type counted struct {
	daemonConn
	asked *atomic.Int64
	after int
	do    func()
}

func (c counted) QueryPathInfos(ctx context.Context, paths []string, fn func(*nixdaemon.PathInfo, *nixdaemon.Queue) error) error {
	return c.daemonConn.QueryPathInfos(ctx, paths, func(info *nixdaemon.PathInfo, q *nixdaemon.Queue) error {
		if n := c.asked.Add(1); c.do != nil && n == int64(c.after) {
			c.do()
		}
		return fn(info, q)
	})
}

// counter makes Closures whose connections are counted, as are the paths
// they ask about.
type counter struct {
	connections, asked atomic.Int64
}

func (n *counter) closures(dir string) *Closures {
	return &Closures{Snapshots: snapshot.Open(dir), connect: func(ctx context.Context, log *slog.Logger) (daemonConn, error) {
		n.connections.Add(1)
		c, err := connectDaemon(ctx, log)
		if err != nil {
			return nil, err
		}
		return counted{daemonConn: c, asked: &n.asked}, nil
	}}
}

// expected is what Nix says of a pair: diff-closures' changes, the
// closures' sizes, and how many paths are in the new closure only and in
// both together.
type expected struct {
	changes               []Change
	sizeBefore, sizeAfter int64
	newOnly, union        int
}

func expect(t *testing.T, before, after string) expected {
	t.Helper()
	old, new := nixtest.Requisites(t, before), nixtest.Requisites(t, after)
	e := expected{changes: nixDiffClosures(t, before, after), sizeBefore: closureSize(t, before), sizeAfter: closureSize(t, after)}
	for p := range new {
		if !old[p] {
			e.newOnly++
		}
	}
	e.union = len(old) + e.newOnly
	return e
}

func (e expected) check(t *testing.T, d *Diff, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !equalChanges(d.Changes, e.changes) {
		t.Errorf("changes differ from nix store diff-closures:\n%s\n---\n%s", showChanges(d.Changes), showChanges(e.changes))
	}
	if d.SizeBefore != e.sizeBefore || d.SizeAfter != e.sizeAfter {
		t.Errorf("sizes %d, %d; nix path-info --closure-size gives %d, %d", d.SizeBefore, d.SizeAfter, e.sizeBefore, e.sizeAfter)
	}
}

// daemonTransports point Closures at a daemon's socket, or at none, which
// makes a root run start nix-daemon --stdio.
func daemonTransports(t *testing.T) map[string]string {
	return map[string]string{"socket": nixtest.StartDaemon(t).Socket, "stdio": "/nonexistent/socket"}
}

// TestNixClosuresMatchDiffClosures diffs each benchmark pair through the
// daemon, with and without snapshots, and compares the result with nix
// store diff-closures; it counts what the daemon was asked: every path of
// both closures once without snapshots, only the new system's own paths
// with the previous one's snapshot, and nothing (no connection either)
// once both are snapshotted.
func TestNixClosuresMatchDiffClosures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pairs of 3000-path systems")
	}
	nixtest.Require(t)
	transports := daemonTransports(t)
	ctx := context.Background()
	for _, shape := range shapes {
		before, after := bigPair(t, shape)
		want := expect(t, before, after)
		t.Logf("%s: %d paths new, %d in both closures together", shape, want.newOnly, want.union)
		for transport, socket := range transports {
			t.Run(shape+"/"+transport, func(t *testing.T) {
				t.Setenv("NIX_DAEMON_SOCKET_PATH", socket)
				t.Setenv("NIX_REMOTE", "")
				var n counter
				cold := n.closures(t.TempDir())
				d, err := cold.Diff(ctx, before, after)
				want.check(t, d, err)
				if n.asked.Load() != int64(want.union) || n.connections.Load() != 1 {
					t.Errorf("cold: asked about %d paths on %d connections; want %d on 1", n.asked.Load(), n.connections.Load(), want.union)
				}

				// The previous system snapshotted: only the new paths.
				dir := t.TempDir()
				n.closures(dir).Retain(ctx, before, nil)
				n.asked.Store(0)
				c := n.closures(dir)
				c.ReadOnly = true
				d, err = c.Diff(ctx, before, after)
				want.check(t, d, err)
				if n.asked.Load() != int64(want.newOnly) {
					t.Errorf("with the previous system's snapshot: asked about %d paths, want %d", n.asked.Load(), want.newOnly)
				}
				if s, _ := snapshot.Open(dir).Load(after); s != nil {
					t.Error("a read-only diff saved a snapshot")
				}

				// Both snapshotted: no Nix at all.
				if _, err := n.closures(dir).Diff(ctx, before, after); err != nil {
					t.Fatal(err)
				}
				n.asked.Store(0)
				n.connections.Store(0)
				d, err = n.closures(dir).Diff(ctx, before, after)
				want.check(t, d, err)
				if n.connections.Load() != 0 {
					t.Errorf("with both snapshots: %d connections to the daemon, want none", n.connections.Load())
				}
			})
		}
	}
}

// TestNixClosuresExpect: a diff told to expect a system with no snapshot
// walks over the connection begun then, not a second one; a system with a
// snapshot begins none.
func TestNixClosuresExpect(t *testing.T) {
	nixtest.Require(t)
	before, after := uniqueSystems(t)
	want := expect(t, before, after)
	ctx := context.Background()
	var n counter
	dir := t.TempDir()
	n.closures(dir).Retain(ctx, before, nil)
	n.connections.Store(0)
	n.asked.Store(0)

	// Expect connects by itself; Close ends a connection no walk took.
	c := n.closures(dir)
	c.Expect(ctx, after)
	c.Close()
	if n.connections.Load() != 1 {
		t.Fatalf("Expect, then Close: %d connections, want 1", n.connections.Load())
	}
	c = n.closures(dir)
	c.Expect(ctx, after)
	d, err := c.Diff(ctx, before, after)
	c.Close()
	want.check(t, d, err)
	if n.connections.Load() != 2 || n.asked.Load() != int64(want.newOnly) {
		t.Errorf("expected: asked about %d paths on %d connections; want %d on the one Expect began", n.asked.Load(), n.connections.Load()-1, want.newOnly)
	}

	// Once the system has its snapshot, nothing connects.
	if _, err := n.closures(dir).Diff(ctx, before, after); err != nil {
		t.Fatal(err)
	}
	n.connections.Store(0)
	c = n.closures(dir)
	c.Expect(ctx, after)
	d, err = c.Diff(ctx, before, after)
	c.Close()
	want.check(t, d, err)
	if n.connections.Load() != 0 {
		t.Errorf("expecting a snapshotted system: %d connections, want none", n.connections.Load())
	}
}

// uniqueSystems builds a pair of small systems whose packages no other
// test builds, so that collecting them takes nothing from anyone else.
func uniqueSystems(t *testing.T) (before, after string) {
	t.Helper()
	tag := nixtest.Unique()
	p := func(name, version string) nixtest.Package { return nixtest.Package{Name: tag + name, Version: version} }
	paths := nixtest.Build(t,
		nixtest.System{Host: tag, Label: "24.05.1", Packages: []nixtest.Package{p("shared", "1.0"), p("hello", "2.12"), p("gone", "0.9"), p("lib", "1.0-dev")}},
		nixtest.System{Host: tag, Label: "24.05.2", Packages: []nixtest.Package{p("shared", "1.0"), p("hello", "2.12.1"), p("new", "3.0"), p("lib", "1.1-dev")}},
	)
	return paths[0], paths[1]
}

// TestNixClosuresAfterGarbageCollection deletes the previous system from
// the store: with its snapshot the changes are still those diff-closures
// gave while it was there; without one they are unknown, as they always
// were.
func TestNixClosuresAfterGarbageCollection(t *testing.T) {
	nixtest.Require(t)
	before, after := uniqueSystems(t)
	want := expect(t, before, after)
	dir := t.TempDir()
	c := &Closures{Snapshots: snapshot.Open(dir)}
	c.Retain(context.Background(), before, nil)
	nixtest.Collect(t, before, after)

	d, err := c.Diff(context.Background(), before, after)
	want.check(t, d, err)
	if len(d.Changes) != 5 {
		t.Errorf("%d changes, want 5:\n%s", len(d.Changes), showChanges(d.Changes))
	}
	if _, err := DiffSystems(context.Background(), before, after); err == nil || !strings.Contains(err.Error(), before) {
		t.Errorf("without a snapshot: %v; want an error naming the missing system", err)
	}
}

// TestNixClosuresFallBack checks that whatever keeps the daemon from
// answering sends the diff to nix path-info, with one debug line, and the
// same result: a daemon killed in the middle of the walk, a NIX_REMOTE the
// client does not speak (but Nix does), an old daemon.
func TestNixClosuresFallBack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a pair of 3000-path systems")
	}
	nixtest.Require(t)
	before, after := bigPair(t, "realistic")
	want := expect(t, before, after)
	d := nixtest.StartDaemon(t)
	for _, tc := range []struct {
		name    string
		remote  string
		connect connectFunc
	}{
		{"daemon killed", "", func(ctx context.Context, log *slog.Logger) (daemonConn, error) {
			c, err := nixdaemon.Dial(ctx, d.Socket, log)
			if err != nil {
				return nil, err
			}
			return counted{daemonConn: c, asked: &atomic.Int64{}, after: 200, do: func() { d.KillWorkers() }}, nil
		}},
		{"unknown NIX_REMOTE", "unix://" + d.Socket + "?max-connections=1", nil},
		{"old daemon", "", func(context.Context, *slog.Logger) (daemonConn, error) {
			return nil, fmt.Errorf("%w: 1.10, need 1.17", nixdaemon.ErrOldDaemon)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NIX_REMOTE", tc.remote)
			var log bytes.Buffer
			c := &Closures{Snapshots: snapshot.Open(t.TempDir()), connect: tc.connect,
				Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := c.Diff(ctx, before, after)
			want.check(t, res, err)
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[0], "nix daemon not used") {
				t.Errorf("log:\n%s\nwant one debug line", log.String())
			}
			t.Log(lines[0])
			if s, _ := c.Snapshots.Load(after); s != nil {
				t.Error("a snapshot was saved from nix path-info, which says nothing of references")
			}
		})
	}
}

// TestNixClosuresCancelled: the end of the run ends the walk, and the diff
// does not go on with nix path-info.
func TestNixClosuresCancelled(t *testing.T) {
	nixtest.Require(t)
	before, after := uniqueSystems(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Closures{Snapshots: snapshot.Open(t.TempDir())}).Diff(ctx, before, after)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Diff with a cancelled context: %v; want context.Canceled", err)
	}
}

// TestNixRetainFirstDeploy: after a first deploy, Retain saves the
// system's snapshot, and keeps only what it is told and a few more.
func TestNixRetainFirstDeploy(t *testing.T) {
	nixtest.Require(t)
	before, after := uniqueSystems(t)
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "current-system")
	if err := os.Symlink(after, link); err != nil {
		t.Fatal(err)
	}
	c := &Closures{Snapshots: snapshot.Open(dir)}
	c.Retain(context.Background(), link, nil)
	s, err := c.Snapshots.Load(after)
	if err != nil || s == nil || len(s.Paths) != len(nixtest.Requisites(t, after)) {
		t.Fatalf("snapshot of the first system: %v, %v", s, err)
	}
	ro := &Closures{Snapshots: snapshot.Open(dir), ReadOnly: true}
	ro.Retain(context.Background(), before, nil)
	if s, _ := c.Snapshots.Load(before); s != nil {
		t.Error("a read-only Retain saved a snapshot")
	}
}
