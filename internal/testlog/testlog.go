// Package testlog is the log of a test: a slog logger at debug level whose
// output the test can read while runs write it, and shows when it fails.
package testlog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Buffer is a slog destination that tests can read while runs write.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// To is a logger at debug level to w.
func To(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// New is a logger whose output the test shows when it fails.
func New(t testing.TB) (*slog.Logger, *Buffer) {
	t.Helper()
	buf := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf)
		}
	})
	return To(buf), buf
}

// notifyHandler is a slog handler that tells when a message is logged.
type notifyHandler struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

// Notify is a logger as New makes it that tells, on the channel, when a
// message holding msg is logged: a test waits on it instead of guessing
// how long something takes.
func Notify(t testing.TB, msg string) (*slog.Logger, <-chan struct{}) {
	t.Helper()
	base, _ := New(t)
	ch := make(chan struct{}, 1)
	return slog.New(notifyHandler{Handler: base.Handler(), msg: msg, ch: ch}), ch
}
