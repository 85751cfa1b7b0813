package nixdaemon

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	return c.withContext(ctx, func() error {
		q := &Queue{paths: append(make([]string, 0, max(len(paths), 64)), paths...)}
		batches := make(chan []string, c.window)
		written := make(chan error, 1)
		go func() { written <- c.writeRequests(batches) }()
		err := c.readAnswers(q, batches, fn)
		close(batches)
		if err != nil {
			c.Close() // unblocks a writer stuck on a full socket
		}
		// A reader stopped by the writer closing the connection reports
		// why the writer did.
		if werr := <-written; err == nil || werr != nil && errors.Is(err, net.ErrClosed) {
			err = werr
		}
		return err
	})
}

// readAnswers hands the queue's paths to the writer in batches, never
// more than c.window ahead of the answers, and reads the answers. A batch
// goes once half the window is answered (or at once while few requests are
// in flight), so that one write carries many requests. Each batch holds a
// path at least, so the writer's channel, as large as the window, never
// blocks.
func (c *Client) readAnswers(q *Queue, batches chan<- []string, fn func(*PathInfo, *Queue) error) error {
	sent, received := 0, 0
	for {
		if sent < len(q.paths) && sent-received <= c.window/2 {
			end := min(len(q.paths), received+c.window)
			batches <- q.paths[sent:end:end]
			sent = end
		}
		if received == sent {
			return nil
		}
		info, err := c.readPathInfo(q.paths[received])
		received++
		if err != nil {
			return err
		}
		if err := fn(info, q); err != nil {
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
