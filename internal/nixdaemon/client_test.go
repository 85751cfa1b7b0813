package nixdaemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// peer plays a daemon on the other end of a pipe: it answers the greeting
// with version minor, then sends what script writes. The frames below are
// the protocol's, as worker-protocol.hh and serialise.hh lay them out;
// the real daemon is tested in client_nix_test.go, these are the frames
// it does not send for the operations this client uses.
func peer(t *testing.T, minor int, script func(e *encoder, d *decoder)) *Client {
	t.Helper()
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close(); s.Close() })
	go func() {
		d := &decoder{r: bufio.NewReader(s)}
		e := &encoder{w: bufio.NewWriter(s)}
		if m, err := d.u64(); err != nil || m != workerMagic1 {
			return
		}
		e.u64(workerMagic2)
		e.u64(uint64(protocolMajor | minor))
		e.flush()
		for range 3 { // version, CPU affinity, reserveSpace
			if _, err := d.u64(); err != nil {
				return
			}
		}
		if minor >= 33 {
			e.string("2.99.0")
		}
		if minor >= 35 {
			e.u64(2) // not trusted
		}
		e.u64(stderrLast) // the start-up log
		e.flush()
		script(e, d)
		e.flush()
		s.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cl, err := newClient(ctx, c, nil, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return cl
}

// answer sends a path-info reply for a path referring to refs.
func answer(e *encoder, narSize uint64, refs ...string) {
	e.u64(1) // valid
	e.string("")
	e.string("0000000000000000000000000000000000000000000000000000000000000000")
	e.u64(uint64(len(refs)))
	for _, r := range refs {
		e.string(r)
	}
	e.u64(1700000000)
	e.u64(narSize)
	e.u64(0)
	e.u64(0)
	e.string("")
}

func query(t *testing.T, c *Client, paths ...string) ([]*PathInfo, error) {
	t.Helper()
	var got []*PathInfo
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.QueryPathInfos(ctx, paths, func(info *PathInfo, q *Queue) error {
		got = append(got, info)
		return nil
	})
	return got, err
}

const pathA = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a"

func TestLogFramesBeforeAnswer(t *testing.T) {
	c := peer(t, 34, func(e *encoder, d *decoder) {
		d.u64()
		d.string()
		e.u64(stderrNext)
		e.string("warning: something\n")
		e.u64(stderrStartActivity)
		e.u64(7)                  // id
		e.u64(3)                  // verbosity
		e.u64(100)                // type
		e.string("querying")      // text
		e.u64(2)                  // two fields
		e.u64(0)                  // a number
		e.u64(42)                 //
		e.u64(1)                  // a string
		e.string("seven bytes!!") // padded to 16
		e.u64(0)                  // parent
		e.u64(stderrResult)
		e.u64(7)
		e.u64(105)
		e.u64(0) // no fields
		e.u64(stderrWrite)
		e.string("data for a sink")
		e.u64(stderrStopActivity)
		e.u64(7)
		e.u64(stderrLast)
		answer(e, 1234, pathA)
	})
	got, err := query(t, c, pathA)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].NarSize != 1234 || len(got[0].References) != 1 || got[0].References[0] != pathA {
		t.Errorf("got %+v", got)
	}
	if p, n := c.Version(); p != "1.34" || n != "2.99.0" {
		t.Errorf("Version() = %q, %q; want 1.34, 2.99.0", p, n)
	}
}

func TestErrorFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		minor int
		send  func(e *encoder)
		want  string
	}{
		{"structured", 34, func(e *encoder) {
			e.u64(stderrError)
			e.string("Error")
			e.u64(0)
			e.string("Error")
			e.string("error: path '/x' is not in the Nix store\nmore")
			e.u64(0)
			e.u64(1)
			e.u64(0)
			e.string("while doing something")
		}, "nix daemon: path '/x' is not in the Nix store"},
		{"before 1.26", 25, func(e *encoder) {
			e.u64(stderrError)
			e.string("old-style failure")
			e.u64(1)
		}, "nix daemon: old-style failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := peer(t, tc.minor, func(e *encoder, d *decoder) {
				d.u64()
				d.string()
				tc.send(e)
			})
			_, err := query(t, c, pathA)
			var de *DaemonError
			if !errors.As(err, &de) || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("error %v; want a DaemonError ending %q", err, tc.want)
			}
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(e *encoder)
		want string
	}{
		{"unknown frame", func(e *encoder) { e.u64(0x1234) }, "unknown frame 0x1234"},
		{"asks for data", func(e *encoder) { e.u64(stderrRead); e.u64(10) }, "asked for data"},
		{"field type", func(e *encoder) { e.u64(stderrResult); e.u64(1); e.u64(2); e.u64(1); e.u64(9) }, "field of unknown type 9"},
		{"huge string", func(e *encoder) { e.u64(stderrNext); e.u64(1 << 40) }, "a string of"},
		{"padding", func(e *encoder) { e.u64(stderrNext); e.u64(1); e.u64(0xff00) }, "non-zero padding"},
		{"not a boolean", func(e *encoder) { e.u64(stderrLast); e.u64(5) }, "5 where a boolean belongs"},
		{"cut short", func(e *encoder) { e.u64(stderrLast); e.u64(1); e.string("") }, "closed the connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := peer(t, 34, func(e *encoder, d *decoder) {
				d.u64()
				d.string()
				tc.send(e)
			})
			_, err := query(t, c, pathA)
			var pe *ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want a ProtocolError saying %q", err, tc.want)
			}
		})
	}
}

func TestInvalidPath(t *testing.T) {
	c := peer(t, 34, func(e *encoder, d *decoder) {
		d.u64()
		d.string()
		e.u64(stderrLast)
		e.u64(0)
	})
	_, err := query(t, c, pathA)
	var ip *InvalidPathError
	if !errors.As(err, &ip) || ip.Path != pathA {
		t.Errorf("error %v; want an InvalidPathError for %s", err, pathA)
	}
}

// TestHandshakeRefused checks what is no daemon this client speaks to: a
// peer that answers with something else, another major version, an old
// daemon, and one that sends an error at start-up.
func TestHandshakeRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(e *encoder)
		check func(error) bool
	}{
		{"not a daemon", func(e *encoder) { e.u64(0x70747468) }, func(err error) bool {
			var pe *ProtocolError
			return errors.As(err, &pe) && strings.Contains(err.Error(), "not a Nix daemon")
		}},
		{"major 2", func(e *encoder) { e.u64(workerMagic2); e.u64(2<<8 | 1) }, func(err error) bool {
			return strings.Contains(err.Error(), "unknown protocol version 2.1")
		}},
		{"1.16", func(e *encoder) { e.u64(workerMagic2); e.u64(protocolMajor | 16) }, func(err error) bool {
			return errors.Is(err, ErrOldDaemon)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := net.Pipe()
			defer s.Close()
			go func() {
				d := &decoder{r: bufio.NewReader(s)}
				e := &encoder{w: bufio.NewWriter(s)}
				d.u64()
				tc.reply(e)
				e.flush()
				s.Close()
			}()
			_, err := newClient(context.Background(), c, nil, nil)
			if err == nil || !tc.check(err) {
				t.Errorf("handshake error %v", err)
			}
		})
	}
}

// TestHandshakeCancelled: a daemon that never answers the greeting is left
// when the context ends.
func TestHandshakeCancelled(t *testing.T) {
	c, s := net.Pipe()
	defer s.Close()
	go func() { bufio.NewReader(s).Discard(8) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := newClient(ctx, c, nil, nil)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("handshake error %v; want context.Canceled", err)
	}
}

// TestPipelined checks that requests go out before answers come back: the
// peer reads every request before it answers any.
func TestPipelined(t *testing.T) {
	const n = 100
	c := peer(t, 35, func(e *encoder, d *decoder) {
		var paths []string
		for range n {
			d.u64()
			p, _ := d.string()
			paths = append(paths, p)
		}
		for i := range paths {
			e.u64(stderrLast)
			answer(e, uint64(i))
		}
	})
	var paths []string
	for i := range n {
		paths = append(paths, pathA+strings.Repeat("x", i))
	}
	got, err := query(t, c, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i, info := range got {
		if info.Path != paths[i] || info.NarSize != uint64(i) {
			t.Fatalf("answer %d is %s, %d; want %s, %d", i, info.Path, info.NarSize, paths[i], i)
		}
	}
}

// TestClientsShareWalk walks a closure over two connections: every path is
// asked about once, over one of them, and both take a share. Each peer
// holds back its answers but the first until the other has been asked
// about a path too, so a walk that left one connection idle would not end.
func TestClientsShareWalk(t *testing.T) {
	const children, grandchildren = 200, 300
	refs := map[string][]string{}
	root := pathA
	for i := range children {
		child := fmt.Sprintf("%s-child%d", pathA, i)
		refs[root] = append(refs[root], child)
		for k := range 2 {
			refs[child] = append(refs[child], fmt.Sprintf("%s-grandchild%d", pathA, (2*i+k)%grandchildren))
		}
	}
	var mu sync.Mutex
	asked := map[string]int{}
	var served [2]int
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var cs Clients
	for i := range 2 {
		cs = append(cs, peer(t, 35, func(e *encoder, d *decoder) {
			for n := 0; ; n++ {
				if _, err := d.u64(); err != nil {
					return
				}
				p, err := d.string()
				if err != nil {
					return
				}
				mu.Lock()
				asked[p]++
				served[i]++
				mu.Unlock()
				if n == 0 {
					close(started[i])
				} else {
					<-started[1-i]
				}
				e.u64(stderrLast)
				answer(e, 1, refs[p]...)
				if e.flush() != nil {
					return
				}
			}
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, seen := map[string]bool{}, map[string]bool{root: true}
	err := cs.QueryPathInfos(ctx, []string{root}, func(info *PathInfo, q *Queue) error {
		if got[info.Path] {
			t.Errorf("%s answered twice", info.Path)
		}
		got[info.Path] = true
		for _, r := range info.References {
			if !seen[r] {
				seen[r] = true
				q.Add(r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + children + grandchildren; len(got) != want || len(asked) != want {
		t.Errorf("%d paths answered, %d asked about; want %d", len(got), len(asked), want)
	}
	for p, n := range asked {
		if n != 1 {
			t.Errorf("%s asked about %d times", p, n)
		}
	}
	t.Logf("answers over each connection: %v", served)
}
