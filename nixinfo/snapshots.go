package nixinfo

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/snapshot"
)

// ExtraSnapshots is how many snapshots Retain keeps beyond those of the
// systems it is told to keep: the systems saved last, for a rollback to
// one of them.
const ExtraSnapshots = 5

// Closures diffs systems' closures through the Nix daemon, remembering
// each closure it learns in a snapshot: a diff walks only the part of the
// new system's closure that the previous system's snapshot does not hold,
// and a system collected as garbage is still known from its snapshot.
// Where the daemon cannot be used (an unknown NIX_REMOTE, an old daemon, a
// protocol error, a daemon that dies), the closures come from nix
// path-info, with one debug line saying why.
type Closures struct {
	// Snapshots holds the snapshots; nil keeps none.
	Snapshots *snapshot.Dir
	// ReadOnly reads snapshots but saves none, for dry runs.
	ReadOnly bool
	Log      *slog.Logger
	// connect reaches the daemon; tests replace it.
	connect connectFunc

	mu sync.Mutex
	// early is the connection Expect began, for the next walk to take.
	early <-chan dialed
}

// dialed is a connection made, or why not.
type dialed struct {
	conn daemonConn
	err  error
}

// Expect says that a diff with system is to come: when system has no
// snapshot, its closure will be walked, so the connection to the daemon
// (for which the daemon starts a process that opens the store) begins now,
// in the background, while the run does other work. The next walk takes
// it; Close closes it if none does.
func (c *Closures) Expect(ctx context.Context, system string) {
	p, err := resolveStorePath(system)
	if err != nil || c.Snapshots != nil && c.Snapshots.Has(p) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.early != nil {
		return
	}
	ch := make(chan dialed, 1)
	connect, log := c.connector(), c.logger()
	go func() {
		conn, err := connect(ctx, log)
		ch <- dialed{conn, err}
	}()
	c.early = ch
}

// Close closes the connection Expect began if no walk took it.
func (c *Closures) Close() {
	if early := c.takeEarly(); early != nil {
		if d := <-early; d.conn != nil {
			d.conn.Close()
		}
	}
}

// takeEarly takes the connection Expect began, nil if none.
func (c *Closures) takeEarly() <-chan dialed {
	c.mu.Lock()
	defer c.mu.Unlock()
	early := c.early
	c.early = nil
	return early
}

func (c *Closures) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func (c *Closures) connector() connectFunc {
	if c.connect == nil {
		return connectDaemon
	}
	return c.connect
}

// walker is a walker on a new graph, with the connection Expect began if
// there is one.
func (c *Closures) walker() *walker {
	return &walker{g: storeGraph{}, connect: c.connector(), early: c.takeEarly(), log: c.logger()}
}

// load reads the snapshot of system into the walker's graph; false when
// there is none usable. An unusable one is passed over with a warning.
func (c *Closures) load(w *walker, system string) (closure, bool) {
	if c.Snapshots == nil {
		return closure{}, false
	}
	s, err := c.Snapshots.Load(system)
	if err == nil && s != nil {
		if len(w.g) == 0 {
			// Room for this closure and another as large.
			w.g = make(storeGraph, 2*len(s.Paths))
		}
		var cl closure
		if cl, err = w.g.addSnapshot(s); err == nil {
			return cl, true
		}
	}
	if err != nil {
		c.logger().Warn("closure snapshot unusable, passed over", "system", system, "err", err)
	}
	return closure{}, false
}

// save keeps the snapshot of a closure the graph knows whole, unless
// read-only.
func (c *Closures) save(g storeGraph, cl closure) {
	if c.Snapshots == nil || c.ReadOnly {
		return
	}
	if err := c.Snapshots.Save(g.snapshotOf(cl)); err != nil {
		c.logger().Warn("closure snapshot not saved", "system", cl.paths[0], "err", err)
	}
}

// Diff compares the closures of two systems (store paths or links to
// them) as DiffSystems does. Each closure comes from its snapshot if there
// is one; otherwise the new one is walked first, stopping where it reaches
// the previous system's snapshot, then the old one, stopping at paths the
// new one has. A system's closure walked now is saved as its snapshot
// unless the Closures is read-only.
func (c *Closures) Diff(ctx context.Context, before, after string) (*Diff, error) {
	if before == "" {
		return &Diff{Changes: []Change{}}, nil
	}
	before, after, err := resolveSystems(before, after)
	if err != nil {
		return nil, err
	}
	w := c.walker()
	defer w.close()
	old, oldKnown := c.load(w, before)
	new, newKnown := c.load(w, after)
	if !newKnown {
		new, err = w.closure(ctx, after)
	}
	if !oldKnown && err == nil {
		old, err = w.closure(ctx, before)
	}
	if err != nil {
		if !fallsBack(ctx, err) {
			return nil, err
		}
		c.logger().Debug("nix daemon not used; asking nix path-info", "err", err)
		return c.fallback(ctx, before, after, old, new, oldKnown, newKnown)
	}
	if !newKnown {
		c.save(w.g, new)
	}
	if !oldKnown {
		c.save(w.g, old)
	}
	return diffOf(old, new), nil
}

// fallback queries with nix path-info the closures no snapshot holds.
func (c *Closures) fallback(ctx context.Context, before, after string, old, new closure, oldKnown, newKnown bool) (*Diff, error) {
	var wg sync.WaitGroup
	var errB, errA error
	if !oldKnown {
		wg.Go(func() { old, errB = closureBySize(ctx, before) })
	}
	if !newKnown {
		wg.Go(func() { new, errA = closureBySize(ctx, after) })
	}
	wg.Wait()
	if errB != nil {
		return nil, errB
	}
	if errA != nil {
		return nil, errA
	}
	return diffOf(old, new), nil
}

// Retain makes sure that next, the system the next deploy will be
// compared with, has a snapshot (walking its closure if it has none, as
// after a first deploy), then removes the snapshots of systems that are
// neither next nor in keep, but for the ExtraSnapshots saved last. It does
// nothing when read-only, and only logs what fails: a snapshot is only
// ever a shortcut. Only the run that saves snapshots may call it.
func (c *Closures) Retain(ctx context.Context, next string, keep []string) {
	if c.Snapshots == nil || c.ReadOnly {
		return
	}
	log := c.logger()
	if next != "" {
		if p, err := resolveStorePath(next); err != nil {
			log.Debug("no snapshot for the system", "system", next, "err", err)
		} else if err := c.remember(ctx, p); err != nil {
			log.Debug("no snapshot for the system", "system", p, "err", err)
		} else {
			keep = append(slices.Clip(keep), p)
		}
	}
	if n, err := c.Snapshots.Prune(keep, ExtraSnapshots); err != nil {
		log.Warn("closure snapshots not pruned", "err", err)
	} else if n > 0 {
		log.Debug("closure snapshots pruned", "removed", n)
	}
}

// remember saves the snapshot of a system unless it has one.
func (c *Closures) remember(ctx context.Context, system string) error {
	w := c.walker()
	defer w.close()
	if _, ok := c.load(w, system); ok {
		return nil
	}
	cl, err := w.closure(ctx, system)
	if err != nil {
		return err
	}
	c.save(w.g, cl)
	return nil
}
