package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// NixOS judges the deploys of a NixOS machine: what failed before a switch
// when it is recorded, and how it ended when it is delivered.
type NixOS struct {
	Systemd Systemd
	// CurrentSystem is the link to the running system, moved by the
	// switch: /run/current-system.
	CurrentSystem string
	// Within bounds the wait for the switch's jobs; 0 means 10 s. It never
	// takes more than a quarter of what the run has left.
	Within time.Duration
}

// Before is what failed before the switch to the running system began.
func (n NixOS) Before(ctx context.Context) Before {
	fi, err := os.Lstat(n.CurrentSystem)
	if err != nil {
		return Before{}
	}
	return n.Systemd.Record(ctx, fi.ModTime())
}

// Judge is how the deploy of system ended: unknown unless system still
// runs, for a later system's units say nothing of it.
func (n NixOS) Judge(ctx context.Context, system string, before Before) *Report {
	running, err := filepath.EvalSymlinks(n.CurrentSystem)
	if err != nil {
		return Unknowable(err.Error())
	}
	if running != system {
		return Unknowable(fmt.Sprintf("judged late: %s runs now", running))
	}
	within := n.Within
	if within <= 0 {
		within = 10 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		within = min(within, time.Until(dl)/4)
	}
	return n.Systemd.Check(ctx, before, within)
}
