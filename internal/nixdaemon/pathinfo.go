package nixdaemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
)

const opQueryPathInfo = 26

// PathInfo is what the daemon knows of a valid store path.
type PathInfo struct {
	Path string
	// Deriver is the derivation that built the path, "" when unknown.
	Deriver string
	// NarHash is the SHA-256 of the path's NAR, in base 16.
	NarHash    string
	References []string
	// RegistrationTime is when the path became valid, in seconds since
	// 1970.
	RegistrationTime uint64
	NarSize          uint64
	// Ultimate says that the path was built here rather than copied.
	Ultimate   bool
	Signatures []string
	// CA is the path's content address, "" when it has none.
	CA string
}

// InvalidPathError says that a path is not valid: not in the store, or
// collected as garbage.
type InvalidPathError struct{ Path string }

func (e *InvalidPathError) Error() string { return fmt.Sprintf("path '%s' is not valid", e.Path) }

// Window is how many QueryPathInfo requests QueryPathInfos keeps in flight.
// One at a time, each answer costs a round trip through the daemon's
// process; a few hundred at once let it answer back to back.
const Window = 512

// Queue holds the paths QueryPathInfos is still to ask about.
type Queue struct {
	paths []string
}

// Add asks about path too. It is asked about once for each Add.
func (q *Queue) Add(path string) { q.paths = append(q.paths, path) }

// QueryPathInfos asks the daemon about each of paths and about each path
// fn adds to the queue, and calls fn with each answer in the order of the
// requests. Requests are pipelined: up to Window of them are sent before
// the first answer is read, and more go out as answers come in, so the
// daemon answers one after another without waiting for the client. A path
// that is not valid is an *InvalidPathError; an error from fn, the daemon
// or ctx ends the walk and closes the client.
func (c *Client) QueryPathInfos(ctx context.Context, paths []string, fn func(info *PathInfo, q *Queue) error) error {
	return Clients{c}.QueryPathInfos(ctx, paths, fn)
}

// Clients are several connections to the daemon, which serves each in a
// process of its own: a walk over them has the daemon answer on as many
// processors at once.
type Clients []*Client

// QueryPathInfos is Client.QueryPathInfos over all the clients at once:
// each takes its share of the paths still to ask about, and fn is called
// with one answer at a time, each client's in the order of its requests.
// An error ends the walk and closes every client.
func (cs Clients) QueryPathInfos(ctx context.Context, paths []string, fn func(info *PathInfo, q *Queue) error) error {
	w := &walk{q: &Queue{paths: append(make([]string, 0, max(len(paths), 64)), paths...)}, fn: fn, clients: len(cs)}
	w.more = sync.NewCond(&w.mu)
	stop := context.AfterFunc(ctx, func() { w.fail(ctx.Err()); cs.Close() })
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			if err := c.walk(w); err != nil {
				w.fail(err)
				cs.Close()
			}
		})
	}
	wg.Wait()
	if !stop() {
		return fmt.Errorf("nix daemon: %w", ctx.Err())
	}
	return w.err
}

// Close closes every client.
func (cs Clients) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// walk is what the clients of a QueryPathInfos share: the queue, how far
// it has been handed out, and how many requests are in flight.
type walk struct {
	mu sync.Mutex
	// more is signalled when the queue grows, the walk ends or fails.
	more    *sync.Cond
	q       *Queue
	fn      func(*PathInfo, *Queue) error
	clients int
	// next is the first path of the queue no client has taken.
	next     int
	inFlight int
	err      error
}

// fail ends the walk with err, the first error only.
func (w *walk) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	w.more.Broadcast()
}

// take hands the client up to room paths, its share of those no client
// has taken, waiting while there are none and other clients have requests
// in flight (whose answers may add some); none when the walk is over.
func (w *walk) take(room int, mine int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil {
		left := len(w.q.paths) - w.next
		if left > 0 {
			n := min(room, (left+w.clients-1)/w.clients)
			batch := w.q.paths[w.next : w.next+n : w.next+n]
			w.next += n
			w.inFlight += n
			return batch
		}
		if mine > 0 || w.inFlight == 0 {
			return nil
		}
		w.more.Wait()
	}
	return nil
}

// answer hands an answer to fn.
func (w *walk) answer(info *PathInfo) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.inFlight--
	before := len(w.q.paths)
	err := w.fn(info, w.q)
	if len(w.q.paths) > before || w.inFlight == 0 || err != nil {
		w.more.Broadcast()
	}
	return err
}

// walk is this client's part of a walk: it takes paths, never more than
// c.window ahead of its answers, hands them to its writer in batches and
// reads the answers. A batch goes once half the window is answered (or at
// once while few requests are in flight), so that one write carries many
// requests. Each batch holds a path at least, so the writer's channel, as
// large as the window, never blocks.
func (c *Client) walk(w *walk) error {
	batches := make(chan []string, c.window)
	written := make(chan error, 1)
	go func() { written <- c.writeRequests(batches) }()
	err := c.readAnswers(w, batches)
	close(batches)
	if err != nil {
		c.Close() // unblocks a writer stuck on a full socket
	}
	// A reader stopped by the writer closing the connection reports why
	// the writer did.
	if werr := <-written; err == nil || werr != nil && (errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)) {
		err = werr
	}
	return err
}

// readAnswers takes paths for the client and reads their answers until
// the walk is over.
func (c *Client) readAnswers(w *walk, batches chan<- []string) error {
	var asked []string // in flight, in the order of the requests
	for {
		if len(asked) <= c.window/2 {
			if batch := w.take(c.window-len(asked), len(asked)); len(batch) > 0 {
				batches <- batch
				asked = append(asked, batch...)
			}
		}
		if len(asked) == 0 {
			return nil
		}
		if c.dec.r.Buffered() == 0 {
			pause(len(asked))
		}
		info, err := c.readPathInfo(asked[0])
		asked = asked[1:]
		if err != nil {
			return err
		}
		if err := w.answer(info); err != nil {
			return err
		}
	}
}

// writeRequests writes a QueryPathInfo request for each path of each
// batch, flushing whenever it has no more at hand. A write error closes
// the connection, so that the reader stops too; the channel is drained to
// its end either way.
func (c *Client) writeRequests(batches <-chan []string) error {
	var err error
	for batch := range batches {
		if err != nil {
			continue
		}
		for _, p := range batch {
			c.enc.u64(opQueryPathInfo)
			c.enc.string(p)
		}
		if len(batches) == 0 {
			if err = c.enc.flush(); err != nil {
				c.Close()
			}
		}
	}
	if err == nil {
		err = c.enc.flush()
	}
	return err
}

// readPathInfo reads the answer to a QueryPathInfo of path: the log
// frames, whether the path is valid, and its info.
func (c *Client) readPathInfo(path string) (*PathInfo, error) {
	if err := c.logFrames(); err != nil {
		return nil, fmt.Errorf("path info of %s: %w", path, err)
	}
	valid, err := c.dec.bool()
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, &InvalidPathError{Path: path}
	}
	info := &PathInfo{Path: path}
	if info.Deriver, err = c.dec.string(); err != nil {
		return nil, err
	}
	if info.NarHash, err = c.dec.string(); err != nil {
		return nil, err
	}
	if info.References, err = c.dec.strings(); err != nil {
		return nil, err
	}
	if info.RegistrationTime, err = c.dec.u64(); err != nil {
		return nil, err
	}
	if info.NarSize, err = c.dec.u64(); err != nil {
		return nil, err
	}
	// From 1.16, which every daemon this client speaks to has passed.
	if info.Ultimate, err = c.dec.bool(); err != nil {
		return nil, err
	}
	if info.Signatures, err = c.dec.strings(); err != nil {
		return nil, err
	}
	if info.CA, err = c.dec.string(); err != nil {
		return nil, err
	}
	return info, nil
}
