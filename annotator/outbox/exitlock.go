package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// A deploy recorded while a run delivers must be delivered by that run or
// by one started after it. On NixOS the record service starts the flush
// service when it ends (OnSuccess=), and systemd merges that start into the
// flush's job while one runs: a flush that has read the spool for the last
// time, and is exporting its spans or exiting, would leave the deploy to
// the timer. So a delivering run ends holding the spool lock (HoldSpool)
// until it exits, once it found nothing new spooled under it. A deploy
// recorded from then on waits for that lock, and then until the process
// that held it is reaped (by systemd, which ends that run's job): the
// start its record asks for is a job of its own, which delivers it.

// HoldSpool takes the spool lock and tells keep what is spooled. When keep
// says so, the lock is kept until this process exits, noted in the lock
// file, so that the next run to take it waits until this process is gone;
// otherwise it is released. With no state directory there is nothing to
// hold, and keep is not asked.
func (o *Outbox) HoldSpool(ctx context.Context, keep func(pending []*Entry) bool) error {
	if ok, err := o.open(false); err != nil || !ok {
		return err
	}
	l, err := o.lockSpool(ctx)
	if err != nil {
		return err
	}
	pending, err := o.Pending()
	if err != nil || !keep(pending) {
		l.Release()
		return err
	}
	l.KeepToExit(fmt.Sprintf("%d %d\n", os.Getpid(), processStart(os.Getpid())))
	return nil
}

// endedWait bounds how long a run waits for the process that kept the
// spool lock until it exited to be reaped; endedPoll is how often it looks.
const (
	endedWait = 2 * time.Second
	endedPoll = 5 * time.Millisecond
)

// awaitEnded is called with the spool lock just taken: when a run kept it
// until it exited, wait until that process is gone (reaped by its parent,
// systemd for a service, which has then ended its job), and clear the note.
func awaitEnded(l *statedir.Lock, log *slog.Logger) {
	note := l.Note()
	if note == "" {
		return
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(note, &pid, &start); err == nil && pid > 0 && pid != os.Getpid() && alive(pid, start) {
		log.Debug("the run that kept the spool lock until it exited is not gone yet; waiting", "pid", pid)
		t := time.NewTicker(endedPoll)
		deadline := time.Now().Add(endedWait)
		for alive(pid, start) {
			if time.Now().After(deadline) {
				log.Warn("the delivery run that kept the spool lock has not been reaped; going on", "pid", pid)
				break
			}
			<-t.C
		}
		t.Stop()
	}
	l.ClearNote()
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
