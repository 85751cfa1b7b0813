// Package nixdaemon is a client of the Nix daemon's worker protocol, the
// one Nix itself speaks to nix-daemon over its Unix socket (or over a pipe
// to `nix-daemon --stdio`): the handshake, the log frames that precede each
// answer, and QueryPathInfo, pipelined so that many requests are in flight
// at once. It is written from the protocol's public description
// (worker-protocol.hh and serialise.hh in the Nix sources).
package nixdaemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// The greeting each side sends first.
const (
	workerMagic1 = 0x6e697863
	workerMagic2 = 0x6478696f
)

// Protocol versions are 1.minor. The client offers 1.35 (what Lix speaks;
// newer daemons negotiate down to it, Nix 2.8's daemon answers 1.34) and
// needs at least 1.17, since which a path-info reply says whether the path
// is valid, a layout that has not changed since.
const (
	protocolMajor = 1 << 8
	clientMinor   = 35
	minMinor      = 17
)

// Frames the daemon sends before an answer: log lines, activities, data,
// and the end of the log (last) or an error instead of the answer.
const (
	stderrNext          = 0x6f6c6d67
	stderrRead          = 0x64617461
	stderrWrite         = 0x64617416
	stderrLast          = 0x616c7473
	stderrError         = 0x63787470
	stderrStartActivity = 0x53545254
	stderrStopActivity  = 0x53544f50
	stderrResult        = 0x52534c54
)

// ErrOldDaemon is a daemon whose protocol is older than this client needs.
var ErrOldDaemon = errors.New("the Nix daemon's protocol is too old")

// DaemonError is an error the daemon reported in place of an answer.
type DaemonError struct {
	Msg    string
	Traces []string
}

func (e *DaemonError) Error() string {
	msg := strings.TrimSpace(e.Msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "nix daemon: " + strings.TrimPrefix(msg, "error: ")
}

// Client is one connection to a Nix daemon. It is not safe for concurrent
// use; an error or a cancelled context closes it.
type Client struct {
	conn io.ReadWriteCloser
	dec  decoder
	enc  encoder
	// minor is the protocol version both sides speak.
	minor      int
	nixVersion string
	log        *slog.Logger
	// window is how many requests are in flight at most: Window, but for
	// benchmarks.
	window int

	closeOnce sync.Once
	closeErr  error
	// closing closes the transport's own resources too (a process).
	closing func() error
}

// newClient greets the daemon on conn. The handshake stops, and conn is
// closed, when ctx is done.
func newClient(ctx context.Context, conn io.ReadWriteCloser, log *slog.Logger, closing func() error) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		conn:    conn,
		dec:     decoder{r: bufio.NewReaderSize(conn, 64<<10)},
		enc:     encoder{w: bufio.NewWriterSize(conn, 32<<10)},
		log:     log,
		closing: closing,
		window:  Window,
	}
	err := c.withContext(ctx, c.handshake)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// handshake exchanges the greeting and the protocol versions, then reads
// the daemon's start-up log.
func (c *Client) handshake() error {
	c.enc.u64(workerMagic1)
	if err := c.enc.flush(); err != nil {
		return err
	}
	magic, err := c.dec.u64()
	if err != nil {
		return err
	}
	if magic != workerMagic2 {
		return protocolErrorf("not a Nix daemon (greeting %#x)", magic)
	}
	version, err := c.dec.u64()
	if err != nil {
		return err
	}
	if version&0xff00 != protocolMajor {
		return protocolErrorf("unknown protocol version %d.%d", version>>8, version&0xff)
	}
	c.minor = min(int(version&0xff), clientMinor)
	if c.minor < minMinor {
		return fmt.Errorf("%w: 1.%d, need 1.%d", ErrOldDaemon, c.minor, minMinor)
	}
	c.enc.u64(protocolMajor | clientMinor)
	c.enc.u64(0) // no CPU affinity (1.14)
	c.enc.u64(0) // reserveSpace, obsolete (1.11)
	if err := c.enc.flush(); err != nil {
		return err
	}
	if c.minor >= 33 {
		if c.nixVersion, err = c.dec.string(); err != nil {
			return err
		}
	}
	if c.minor >= 35 {
		trusted, err := c.dec.u64() // unknown, trusted, not trusted
		if err != nil {
			return err
		}
		if trusted > 2 {
			return protocolErrorf("trust status %d", trusted)
		}
	}
	return c.logFrames()
}

// Version is the protocol version the client and the daemon agreed on, as
// "1.N", and the daemon's Nix version where it says (from 1.33).
func (c *Client) Version() (protocol, nix string) {
	return fmt.Sprintf("1.%d", c.minor), c.nixVersion
}

// logFrames reads the frames that precede an answer up to the last one. An
// error frame is returned as a *DaemonError; the connection stays usable
// after it.
func (c *Client) logFrames() error {
	for {
		frame, err := c.dec.u64()
		if err != nil {
			return err
		}
		switch frame {
		case stderrLast:
			return nil
		case stderrError:
			return c.readError()
		case stderrNext:
			msg, err := c.dec.bytes()
			if err != nil {
				return err
			}
			c.log.Debug("nix daemon", "msg", strings.TrimRight(string(msg), "\n"))
		case stderrWrite:
			// Data for a sink: no operation this client sends has one.
			if _, err := c.dec.bytes(); err != nil {
				return err
			}
		case stderrRead:
			return protocolErrorf("the daemon asked for data the client does not send")
		case stderrStartActivity:
			err = c.skipActivity()
		case stderrStopActivity:
			_, err = c.dec.u64()
		case stderrResult:
			if _, err = c.dec.u64(); err == nil { // activity
				if _, err = c.dec.u64(); err == nil { // result type
					err = c.skipFields()
				}
			}
		default:
			return protocolErrorf("unknown frame %#x", frame)
		}
		if err != nil {
			return err
		}
	}
}

// skipActivity reads the start of an activity: its id, verbosity, type,
// text, fields and parent.
func (c *Client) skipActivity() error {
	for range 3 {
		if _, err := c.dec.u64(); err != nil {
			return err
		}
	}
	if _, err := c.dec.bytes(); err != nil {
		return err
	}
	if err := c.skipFields(); err != nil {
		return err
	}
	_, err := c.dec.u64()
	return err
}

// skipFields reads a list of fields, each a number (type 0) or a string
// (type 1).
func (c *Client) skipFields() error {
	n, err := c.dec.count()
	for i := 0; i < n && err == nil; i++ {
		var typ uint64
		if typ, err = c.dec.u64(); err != nil {
			break
		}
		switch typ {
		case 0:
			_, err = c.dec.u64()
		case 1:
			_, err = c.dec.bytes()
		default:
			err = protocolErrorf("field of unknown type %d", typ)
		}
	}
	return err
}

// readError reads an error frame: from 1.26 a structured error (type
// "Error", verbosity, an unused name, the message, no position, and
// traces without positions), before that the message and an exit status.
func (c *Client) readError() error {
	if c.minor < 26 {
		msg, err := c.dec.string()
		if err != nil {
			return err
		}
		if _, err := c.dec.u64(); err != nil {
			return err
		}
		return &DaemonError{Msg: msg}
	}
	typ, err := c.dec.string()
	if err != nil {
		return err
	}
	if typ != "Error" {
		return protocolErrorf("error of type %q", typ)
	}
	if _, err := c.dec.u64(); err != nil { // verbosity
		return err
	}
	if _, err := c.dec.bytes(); err != nil { // name, no longer used
		return err
	}
	e := &DaemonError{}
	if e.Msg, err = c.dec.string(); err != nil {
		return err
	}
	if err := c.noPosition(); err != nil {
		return err
	}
	n, err := c.dec.count()
	if err != nil {
		return err
	}
	for range n {
		if err := c.noPosition(); err != nil {
			return err
		}
		t, err := c.dec.string()
		if err != nil {
			return err
		}
		e.Traces = append(e.Traces, t)
	}
	return e
}

// noPosition reads an error position, which the protocol always sends
// empty.
func (c *Client) noPosition() error {
	havePos, err := c.dec.u64()
	if err == nil && havePos != 0 {
		err = protocolErrorf("an error with a position")
	}
	return err
}

// withContext runs f, closing the connection when ctx is done first; an
// error then is ctx's. A call that fails leaves the connection closed:
// what the daemon sends next is unknown.
func (c *Client) withContext(ctx context.Context, f func() error) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := f()
	if !stop() {
		return fmt.Errorf("nix daemon: %w", ctx.Err())
	}
	if err != nil {
		c.Close()
	}
	return err
}

// Close ends the connection.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.conn.Close()
		if c.closing != nil {
			if err := c.closing(); c.closeErr == nil {
				c.closeErr = err
			}
		}
	})
	return c.closeErr
}
