package annotator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A deploy recorded while a run delivers must be delivered by that run or
// by one started after it. On NixOS the record service starts the flush
// service when it ends (OnSuccess=), and systemd merges that start into the
// flush's job while one runs: a flush that has read the spool for the last
// time, and is exporting its spans or exiting, would leave the deploy to the
// timer. So a delivering run ends with Settle: after its export it takes
// the spool lock, and either finds deploys recorded meanwhile and delivers
// them too, or keeps the lock until it exits. A deploy recorded from then on
// waits for that lock, and then until systemd has reaped the run that held
// it, which ends that run's job: the start its record asks for is a job of
// its own, which delivers it.

// Settle ends a delivery run. It takes the spool lock and counts the
// spooled deploys this run has neither tried nor seen before another run
// was found delivering. When there are some and final is false, it releases
// the lock again: the caller delivers them and settles once more.
// Otherwise it keeps the lock until the process exits, noting in the lock
// file which process holds it.
func (a *Annotator) Settle(final bool) (fresh int, err error) {
	err = a.store.hold(func() (bool, error) {
		var err error
		fresh, err = a.fresh()
		return fresh == 0 || final, err
	})
	return fresh, err
}

// fresh counts the spooled deploys this run has not seen.
func (a *Annotator) fresh() (int, error) {
	pending, err := a.store.Pending()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range pending {
		if !a.seen[e.ID] {
			n++
		}
	}
	return n, nil
}

// markSeen notes what is spooled now as another run's to deliver.
func (a *Annotator) markSeen() {
	pending, _ := a.store.Pending()
	for _, e := range pending {
		a.seen[e.ID] = true
	}
}

// heldToExit keeps the lock files a run holds until it exits: closing one
// (or its being collected) would release the lock.
var heldToExit struct {
	sync.Mutex
	files []*os.File
}

// hold runs keep under the spool lock; when it says so, the lock is kept
// until the process exits.
func (s *Store) hold(keep func() (bool, error)) error {
	if s.readOnly {
		return errors.New("read-only state directory")
	}
	l, err := s.lockSpool()
	if err != nil {
		return err
	}
	ok, err := keep()
	if err != nil || !ok {
		l.release()
		return err
	}
	if err := l.f.Truncate(0); err == nil {
		l.f.WriteAt(fmt.Appendf(nil, "%d %d\n", os.Getpid(), processStart(os.Getpid())), 0)
	}
	heldToExit.Lock()
	heldToExit.files = append(heldToExit.files, l.f)
	heldToExit.Unlock()
	return nil
}

// endedWait bounds how long a run waits for the process that held the
// spool lock until it exited to be reaped.
const endedWait = 2 * time.Second

// awaitEnded is called with the spool lock just taken: when a run kept it
// until it exited, wait until that process is gone (reaped by its parent,
// systemd for a service, which has then ended its job), and clear the note.
func (l *lockFile) awaitEnded(log *slog.Logger) {
	b, err := io.ReadAll(io.NewSectionReader(l.f, 0, 64))
	if err != nil || len(b) == 0 {
		return
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err == nil && pid > 0 && pid != os.Getpid() {
		deadline := time.Now().Add(endedWait)
		if alive(pid, start) {
			log.Debug("the run that kept the spool lock until it exited is not gone yet; waiting", "pid", pid)
		}
		for alive(pid, start) {
			if time.Now().After(deadline) {
				log.Warn("the delivery run that held the spool lock has not been reaped; going on", "pid", pid)
				break
			}
			time.Sleep(lockPoll / 4)
		}
	}
	l.f.Truncate(0)
}

// alive says whether the process pid, started at start (clock ticks after
// boot; 0 when unknown), exists still, a zombie included.
func alive(pid int, start uint64) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	switch {
	case err == nil:
		return start == 0 || statStart(b) == start
	case errors.Is(err, os.ErrNotExist):
		return false
	}
	// Not ours to read: whether it can be signalled says whether it exists.
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// processStart is when process pid started, in clock ticks after boot; 0
// when unknown.
func processStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return statStart(b)
}

// statStart reads field 22, starttime, of /proc/PID/stat; the command name
// before it, in parentheses, may hold spaces.
func statStart(b []byte) uint64 {
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}
