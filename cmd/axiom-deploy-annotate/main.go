// Command axiom-deploy-annotate tells Axiom about a NixOS or nix-darwin
// deploy, or a user's Home Manager generation: it annotates the chosen
// datasets once per deploy and traces its own run. See --help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the module version go install recorded.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Exit statuses.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitNotNix   = 3
	exitState    = 4
	// exitAxiom: Axiom refused or failed a dashboard, fleet or monitors
	// request.
	exitAxiom = 5
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit status with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code, err} }

func run(args []string, stdout, stderr io.Writer) int {
	m, args, err := modeOf(args)
	if err != nil {
		return usageFail(stderr, err)
	}
	c, rest, err := parseArgs(args, m.takes == takesIDs)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return exitOK
	case err != nil:
		return usageFail(stderr, err)
	}
	if c.version {
		fmt.Fprintf(stdout, "axiom-deploy-annotate %s\n", versionString())
		return exitOK
	}
	if err := m.check(c, args, rest); err != nil {
		return usageFail(stderr, err)
	}
	if m.configOnly {
		fmt.Fprintln(stdout, "config ok")
		return exitOK
	}
	r := &runner{c: c, mode: m, args: rest, stdin: os.Stdin, stdout: stdout, stderr: stderr, log: logTo(stderr, c.verbose)}
	status, err := r.run()
	if err != nil {
		sayError(stderr, err)
		return exitStatus(err)
	}
	return status
}

// exitStatus is the exit status an error ends the run with.
func exitStatus(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, outbox.ErrState):
		return exitState
	case errors.Is(err, nixinfo.ErrNotNixSystem), errors.Is(err, nixinfo.ErrNotHomeManager):
		return exitNotNix
	}
	return exitInternal
}

// sayError writes err as the run's one error line: whatever of it came
// from outside (a path, a command, an answer) made safe for a terminal.
func sayError(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "axiom-deploy-annotate: %s\n", text.Line(err.Error()))
}

func usageFail(stderr io.Writer, err error) int {
	sayError(stderr, err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintln(stderr, "Run axiom-deploy-annotate --help for usage.")
	}
	return exitUsage
}

// logTo is a logger to w at the run's level.
func logTo(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
