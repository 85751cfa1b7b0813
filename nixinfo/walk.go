package nixinfo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixdaemon"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
)

// pathNode is what is known of a store path: its NAR size and the paths
// it refers to.
type pathNode struct {
	narSize int64
	refs    []string
}

// storeGraph is what a diff knows of store paths, from snapshots and from
// the daemon. Store paths never change, so one graph serves every closure
// of a diff. Between walks it is closed: every path it knows the
// references of, it knows too.
type storeGraph map[string]pathNode

// daemonConn is a connection to the Nix daemon that asks about store
// paths many at a time: a *nixdaemon.Client.
type daemonConn interface {
	QueryPathInfos(ctx context.Context, paths []string, fn func(*nixdaemon.PathInfo, *nixdaemon.Queue) error) error
	Close() error
}

// connectFunc reaches the Nix daemon.
type connectFunc func(ctx context.Context, log *slog.Logger) (daemonConn, error)

// daemonConnections is how many connections a walk asks the daemon over:
// the daemon serves each in a process of its own, so that two answer at
// once on two processors (the machines measured had two).
var daemonConnections = min(runtime.NumCPU(), 2)

// connectDaemon reaches the daemon as Nix would (nixdaemon.Connect), over
// daemonConnections connections.
func connectDaemon(ctx context.Context, log *slog.Logger) (daemonConn, error) {
	cs, err := nixdaemon.ConnectAll(ctx, log, daemonConnections)
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// walker walks closures for one diff: through g where it knows the paths,
// asking the daemon, reached at the first question, about the rest.
type walker struct {
	g       storeGraph
	connect connectFunc
	// early is a connection begun before the walker was made, which it
	// uses instead of connecting.
	early  <-chan dialed
	log    *slog.Logger
	client daemonConn
}

func (w *walker) close() {
	if w.client == nil && w.early != nil {
		w.client = (<-w.early).conn
	}
	if w.client != nil {
		w.client.Close()
	}
}

// querier connects to the daemon on first use, or takes the connection
// begun early.
func (w *walker) querier(ctx context.Context) (daemonConn, error) {
	if w.client != nil {
		return w.client, nil
	}
	var d dialed
	if w.early != nil {
		d, w.early = <-w.early, nil
	} else {
		d.conn, d.err = w.connect(ctx, w.log)
	}
	if d.err != nil {
		return nil, d.err
	}
	w.client = d.conn
	return w.client, nil
}

// closure returns the closure of root, root first, with its NAR size. It
// stops where the walk reaches paths the graph knows (a snapshot's, or a
// closure walked before), taking the rest of their closure from the graph,
// and asks the daemon, pipelined, about the other paths, which it adds to
// the graph.
func (w *walker) closure(ctx context.Context, root string) (closure, error) {
	var c closure
	seen := make(map[string]struct{}, len(w.g))
	var ask, stack []string
	// reach adds p and, for paths the graph knows, everything it refers
	// to; paths the graph does not know go to ask.
	reach := func(p string) {
		stack = append(stack[:0], p)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, ok := seen[x]; ok {
				continue
			}
			seen[x] = struct{}{}
			c.paths = append(c.paths, x)
			if n, ok := w.g[x]; ok {
				c.size += n.narSize
				stack = append(stack, n.refs...)
			} else {
				ask = append(ask, x)
			}
		}
	}
	reach(root)
	if len(ask) == 0 {
		return c, nil
	}
	q, err := w.querier(ctx)
	if err != nil {
		return closure{}, err
	}
	first := ask
	ask = nil
	err = q.QueryPathInfos(ctx, first, func(info *nixdaemon.PathInfo, next *nixdaemon.Queue) error {
		if info.NarSize > uint64(maxClosureSize-c.size) {
			return errTooLarge
		}
		n := pathNode{narSize: int64(info.NarSize), refs: info.References}
		w.g[info.Path] = n
		c.size += n.narSize
		for _, r := range n.refs {
			reach(r)
		}
		for _, p := range ask {
			next.Add(p)
		}
		ask = ask[:0]
		return nil
	})
	if err != nil {
		return closure{}, fmt.Errorf("closure of %s: %w", root, err)
	}
	return c, nil
}

// errTooLarge is a closure whose size is past maxClosureSize: no real one.
var errTooLarge = errors.New("NAR sizes adding up to more than an exbibyte")

// fallsBack says whether an error of the daemon's walk should send the
// diff to nix path-info instead: anything but a path that is not valid,
// which nix path-info would refuse too, and the end of the run.
func fallsBack(ctx context.Context, err error) bool {
	var invalid *nixdaemon.InvalidPathError
	return ctx.Err() == nil && !errors.As(err, &invalid)
}

// addSnapshot puts a snapshot's paths into the graph and returns its
// closure. A snapshot whose paths are not store paths, whose names and
// versions are not the ones its paths give, or whose sizes add up past
// maxClosureSize is refused whole: it is no snapshot this program would
// have written.
func (g storeGraph) addSnapshot(s *snapshot.Closure) (closure, error) {
	dir := storeDir()
	c := closure{paths: make([]string, len(s.Paths))}
	for i, p := range s.Paths {
		if err := checkStorePathIn(dir, p.Path); err != nil {
			return closure{}, err
		}
		if name, version := splitName(nameOf(p.Path)); name != p.Name || version != p.Version {
			return closure{}, fmt.Errorf("%s is not %s %s", p.Path, p.Name, p.Version)
		}
		if p.NarSize > uint64(maxClosureSize-c.size) {
			return closure{}, errTooLarge
		}
		c.paths[i] = p.Path
		c.size += int64(p.NarSize)
	}
	// The references of all paths, in one array.
	n := 0
	for _, p := range s.Paths {
		n += len(p.References)
	}
	all := make([]string, 0, n)
	for _, p := range s.Paths {
		start := len(all)
		for _, r := range p.References {
			all = append(all, s.Paths[r].Path)
		}
		g[p.Path] = pathNode{narSize: int64(p.NarSize), refs: all[start:len(all):len(all)]}
	}
	return c, nil
}

// snapshotOf is the snapshot of a closure the graph knows whole.
func (g storeGraph) snapshotOf(c closure) *snapshot.Closure {
	index := make(map[string]int, len(c.paths))
	for i, p := range c.paths {
		index[p] = i
	}
	s := &snapshot.Closure{System: c.paths[0], Paths: make([]snapshot.Path, len(c.paths))}
	for i, p := range c.paths {
		n := g[p]
		name, version := splitName(nameOf(p))
		refs := make([]int, len(n.refs))
		for k, r := range n.refs {
			refs[k] = index[r]
		}
		s.Paths[i] = snapshot.Path{Path: p, Name: name, Version: version, NarSize: uint64(n.narSize), References: refs}
	}
	return s
}
