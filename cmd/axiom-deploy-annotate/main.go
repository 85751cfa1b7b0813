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
	"slices"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
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

// modes are the command's modes, the first the default.
var modes = []string{"annotate", "record", "flush", "drop", "rollout", "dashboard", "fleet", "monitors", "check-config"}

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
	mode := modes[0]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
		if !slices.Contains(modes, mode) {
			return usageFail(stderr, usageError{fmt.Errorf("unknown mode %q: want %s", mode, strings.Join(modes, ", "))})
		}
	}
	c, rest, err := parseArgs(args, mode == "drop")
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
	if len(rest) > 0 && mode != "drop" && mode != "rollout" {
		if slices.Contains(modes, rest[0]) {
			return usageFail(stderr, usageError{fmt.Errorf("the mode goes first: axiom-deploy-annotate %s %s", rest[0], strings.Join(args[:len(args)-len(rest)], " "))})
		}
		return usageFail(stderr, usageError{fmt.Errorf("unexpected argument %q", rest[0])})
	}
	if mode == "drop" && len(rest) == 0 {
		return usageFail(stderr, usageError{errors.New("drop needs the ids of the entries to drop: flush --dry-run lists them")})
	}
	if mode == "rollout" && (len(rest) == 0 || len(rest) == len(args) || args[len(args)-len(rest)-1] != "--") {
		return usageFail(stderr, usageError{errors.New("rollout needs the deploy command after --: axiom-deploy-annotate rollout [flags] -- COMMAND [ARGS...]")})
	}
	if mode == "rollout" && c.dryRun {
		// A dry run sends and writes nothing, and what rollout would send
		// is known only once the command has run.
		return usageFail(stderr, usageError{errors.New("rollout has no dry run: it would have to run the deploy command; run the command alone, or rollout without --dry-run")})
	}
	if (mode == "dashboard" || mode == "fleet" || mode == "monitors") && c.TracesDataset == "" {
		return usageFail(stderr, usageError{errors.New(mode + " needs the traces dataset: --traces-dataset NAME (or tracesDataset in the config)")})
	}
	if mode == "check-config" {
		fmt.Fprintln(stdout, "config ok")
		return exitOK
	}
	r := &runner{c: c, mode: mode, args: rest, stdin: os.Stdin, stdout: stdout, stderr: stderr, log: logTo(stderr, c.verbose)}
	err = r.run()
	if mode == "rollout" {
		return r.status
	}
	if err != nil {
		var ee *exitError
		code := exitInternal
		switch {
		case errors.As(err, &ee):
			code = ee.code
		case errors.Is(err, annotator.ErrState):
			code = exitState
		case errors.Is(err, nixinfo.ErrNotNixSystem), errors.Is(err, nixinfo.ErrNotHomeManager):
			code = exitNotNix
		}
		sayError(stderr, err)
		return code
	}
	return exitOK
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
