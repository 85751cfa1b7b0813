package main

import (
	"os"
	"path/filepath"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// systemStateDir is the system's state directory, root's default.
const systemStateDir = "/var/lib/axiom-deploy-annotation"

// defaultStateDir is the system's state directory for root, and a user's
// own for anyone else (a rollout run from a laptop or a CI job).
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return systemStateDir
	}
	return userStateDir(os.Getenv)
}

// userStateDir is a user's state directory: in $XDG_STATE_HOME, else in
// $HOME/.local/state. A relative path in either is ignored, as the XDG
// specification says, rather than taken from wherever the run started.
func userStateDir(getenv func(string) string) string {
	base := nixinfo.StateHome(getenv)
	if base == "" {
		return systemStateDir
	}
	return filepath.Join(base, "axiom-deploy-annotation")
}
