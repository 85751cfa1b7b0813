package nixdaemon

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// The worker protocol's encoding: every number is a 64-bit little-endian
// word; a string is its length as a number, its bytes, then zero bytes up
// to a multiple of eight; a list is its length, then its elements.

// Bounds on what is read, so that a broken peer cannot make the client
// allocate without limit: store paths, hashes and log lines are far
// shorter, and a path refers to far fewer paths.
const (
	maxString = 1 << 22
	maxList   = 1 << 20
)

// ProtocolError is an answer the worker protocol does not allow, or a
// connection that ended in the middle of one.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "nix daemon protocol: " + e.Msg }

func protocolErrorf(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// decoder reads the protocol's values from a buffered connection.
type decoder struct {
	r *bufio.Reader
}

// readErr turns the end of the connection, seen reading or writing, into
// a ProtocolError.
func readErr(err error) error {
	for _, end := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.EPIPE, syscall.ECONNRESET} {
		if errors.Is(err, end) {
			return protocolErrorf("the daemon closed the connection")
		}
	}
	return err
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.r.Peek(8)
	if err != nil {
		return 0, readErr(err)
	}
	v := binary.LittleEndian.Uint64(b)
	_, _ = d.r.Discard(8)
	return v, nil
}

// count reads a list's length.
func (d *decoder) count() (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if n > maxList {
		return 0, protocolErrorf("a list of %d elements", n)
	}
	return int(n), nil
}

// bool reads a number that must be 0 or 1.
func (d *decoder) bool() (bool, error) {
	v, err := d.u64()
	if err != nil {
		return false, err
	}
	if v > 1 {
		return false, protocolErrorf("%d where a boolean belongs", v)
	}
	return v == 1, nil
}

// bytes reads a string and returns its bytes, valid only until the next
// read.
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	if n > maxString {
		return nil, protocolErrorf("a string of %d bytes", n)
	}
	padded := int(n+7) &^ 7
	var b []byte
	if padded <= d.r.Size() {
		if b, err = d.r.Peek(padded); err != nil {
			return nil, readErr(err)
		}
		_, _ = d.r.Discard(padded)
	} else {
		b = make([]byte, padded)
		if _, err := io.ReadFull(d.r, b); err != nil {
			return nil, readErr(err)
		}
	}
	for _, c := range b[n:] {
		if c != 0 {
			return nil, protocolErrorf("non-zero padding")
		}
	}
	return b[:n], nil
}

func (d *decoder) string() (string, error) {
	b, err := d.bytes()
	return string(b), err
}

// strings reads a list of strings.
func (d *decoder) strings() ([]string, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = d.string(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// encoder writes the protocol's values to a buffered connection; the
// first error sticks.
type encoder struct {
	w   *bufio.Writer
	err error
}

func (e *encoder) u64(v uint64) {
	if e.err != nil {
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	_, e.err = e.w.Write(b[:])
}

func (e *encoder) string(s string) {
	e.u64(uint64(len(s)))
	if e.err != nil {
		return
	}
	if _, e.err = e.w.WriteString(s); e.err != nil {
		return
	}
	var zero [8]byte
	_, e.err = e.w.Write(zero[:(8-len(s)%8)%8])
}

func (e *encoder) flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return readErr(e.err)
}
