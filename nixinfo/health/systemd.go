package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Systemd asks systemd, through systemctl over the system bus (read-only
// calls, which any user may make).
type Systemd struct {
	// Systemctl is the command; "" finds systemctl on PATH.
	Systemctl string
	// Self is the unit this process runs in, whose own job is not waited
	// for; "" reads it from /proc/self/cgroup.
	Self string
	// Poll is how often Settle asks; 0 means 100 ms.
	Poll time.Duration
}

// ErrUnsettled is Settle's error when jobs were still queued at its
// deadline.
var ErrUnsettled = errors.New("systemd jobs still running")

func (s Systemd) run(ctx context.Context, args ...string) (string, error) {
	name := s.Systemctl
	if name == "" {
		name = "systemctl"
	}
	cmd := exec.CommandContext(ctx, name, append([]string{"--no-pager", "--plain", "--no-legend", "--full"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			return "", fmt.Errorf("systemctl %s: %w: %s", args[0], err, msg)
		}
		return "", fmt.Errorf("systemctl %s: %w", args[0], err)
	}
	return string(out), nil
}

// Failed is the units in the failed state, as switch-to-configuration
// lists them.
func (s Systemd) Failed(ctx context.Context) ([]string, error) {
	out, err := s.run(ctx, "list-units", "--all", "--state=failed")
	if err != nil {
		return nil, err
	}
	return parseUnits(out), nil
}

// parseUnits reads list-units' lines (UNIT LOAD ACTIVE SUB DESCRIPTION):
// the units whose active state is failed. Unit names hold no blanks
// (systemd escapes them).
func parseUnits(out string) []string {
	var units []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "●" || f[0] == "*") {
			f = f[1:]
		}
		if len(f) >= 3 && f[2] == "failed" {
			units = append(units, f[0])
		}
	}
	return units
}

// Jobs is the units with a queued or running job, but Self's.
func (s Systemd) Jobs(ctx context.Context) ([]string, error) {
	out, err := s.run(ctx, "list-jobs")
	if err != nil {
		return nil, err
	}
	self := s.Self
	if self == "" {
		self = ownUnit()
	}
	return parseJobs(out, self), nil
}

// parseJobs reads list-jobs' lines (JOB UNIT TYPE STATE), passing over
// self's.
func parseJobs(out, self string) []string {
	var units []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || strings.Trim(f[0], "0123456789") != "" || f[1] == self {
			continue
		}
		units = append(units, f[1])
	}
	return units
}

// ownUnit is the unit of this process's control group, "" outside one.
func ownUnit() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		path := strings.TrimSpace(line[strings.LastIndexByte(line, ':')+1:])
		for _, part := range strings.Split(path, "/") {
			if strings.HasSuffix(part, ".service") {
				return part
			}
		}
	}
	return ""
}

// Settle waits until no job but Self's is queued (the switch's start
// jobs are done), for at most within; ErrUnsettled, naming the units,
// when some still are then.
func (s Systemd) Settle(ctx context.Context, within time.Duration) error {
	poll := s.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		jobs, err := s.Jobs(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && len(jobs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrUnsettled, strings.Join(jobs, ", "))
		case <-tick.C:
		}
	}
}

// Check waits for the switch's jobs, then judges the deploy from the units
// failed now and before. A unit that never settles does not hold it past
// within: it is judged then, its job still running.
func (s Systemd) Check(ctx context.Context, before Before, within time.Duration) *Report {
	if err := s.Settle(ctx, within); err != nil && !errors.Is(err, ErrUnsettled) {
		return Unknowable(err.Error())
	}
	now, err := s.Failed(ctx)
	if err != nil {
		return Unknowable(err.Error())
	}
	return Judge(before, now)
}

// Record is what failed before a deploy whose switch began at since (when
// /run/current-system moved): the units failed now whose failure is older.
// One that failed since was failed by the switch, which starts the
// recording run and the units it changed in one transaction.
func (s Systemd) Record(ctx context.Context, since time.Time) Before {
	units, err := s.Failed(ctx)
	if err != nil {
		return Before{}
	}
	if len(units) == 0 {
		return Before{Known: true}
	}
	out, err := s.run(ctx, append([]string{"show", "--timestamp=us+utc", "-p", "Id", "-p", "StateChangeTimestamp", "--"}, units...)...)
	if err != nil {
		return Before{}
	}
	return Before{Known: true, Units: failedBefore(out, since)}
}

// usUTC is how --timestamp=us+utc prints a time.
const usUTC = "Mon 2006-01-02 15:04:05.000000 MST"

// failedBefore reads systemctl show's blocks (Id=, StateChangeTimestamp=)
// for the units whose state changed before since, to the microsecond.
func failedBefore(out string, since time.Time) []string {
	var units []string
	for block := range strings.SplitSeq(out, "\n\n") {
		var id string
		var at time.Time
		for line := range strings.Lines(block) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "Id":
				id = v
			case "StateChangeTimestamp":
				at, _ = time.Parse(usUTC, v)
			}
		}
		if id != "" && !at.IsZero() && at.Before(since) {
			units = append(units, id)
		}
	}
	return units
}
