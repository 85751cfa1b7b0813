package nixdaemon

import (
	"syscall"
	"time"
)

// pause waits, before a read that would block, for the answers to n
// requests in flight to pile up, so that one read takes many: read one at
// a time, each answer wakes the client, and the daemon pays for waking it.
// The daemon takes well over 10 µs an answer (15–30 µs measured, Nix 2.8),
// so waiting 2 µs a request in flight never leaves it without work. A few
// requests in flight are read as they come. The wait blocks the thread
// (the runtime's timers wait a millisecond at least).
func pause(n int) {
	if n < 32 {
		return
	}
	ts := syscall.NsecToTimespec(int64(min(time.Duration(n)*2*time.Microsecond, time.Millisecond)))
	_ = syscall.Nanosleep(&ts, nil)
}
