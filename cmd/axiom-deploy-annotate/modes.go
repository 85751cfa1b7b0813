package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// mode is one thing the command does, declared once, as a setting is: its
// line in --help, what it takes besides flags, what becomes of its spans,
// what it needs, and how it runs. The usage text, the checks of a command
// line and the dispatch all read it.
type mode struct {
	name vocab.Mode
	// args is what follows the name in its usage line; help says what it
	// does.
	args, help string
	// ref is what it does in the reference, docs/configuration.md's modes
	// table (markdown): help at more length.
	ref   string
	takes takes
	// missing says what to give when what it takes is missing.
	missing string
	spans   spans
	token   tokenUse
	// traces: it needs the traces dataset. state: it keeps deploys in the
	// state directory, through an annotator.
	traces, state bool
	// run runs it, dryRun with --dry-run; noDryRun says why it has none.
	run, dryRun func(*runner) (status int, err error)
	noDryRun    string
	// configOnly modes only check the settings.
	configOnly bool
}

// takes is what a mode takes besides flags.
type takes int

const (
	takesNothing takes = iota
	// takesIDs: spool entries' ids, before, between or after the flags.
	takesIDs
	// takesCommand: a command after "--".
	takesCommand
)

// spans is what becomes of a mode's spans.
type spans int

const (
	// spansExported go to the traces endpoint at the end of the run.
	spansExported spans = iota
	// spansDeferred are kept in the state directory for the next run that
	// exports to send: the run waits on no network.
	spansDeferred
	// spansDropped are made but go nowhere. Every dry run's are.
	spansDropped
)

// tokenUse is what a mode does with the Axiom token.
type tokenUse int

const (
	tokenNone tokenUse = iota
	// tokenToSend: it delivers annotations; without a usable token they
	// stay spooled, with a warning.
	tokenToSend
	// tokenRequired: it calls Axiom's API, and fails without one.
	tokenRequired
)

// modeCheckConfig makes no span, so telemetry/vocab has no name for it.
const modeCheckConfig vocab.Mode = "check-config"

// modes are the command's modes, in --help's order, the first the default.
var modes = []mode{
	{name: vocab.ModeAnnotate, help: "record the current system if it is a new deploy, then deliver everything spooled (the default)",
		ref:   "record the running system if it is a new deploy, then deliver everything spooled; for manual runs and nix-darwin",
		spans: spansExported, token: tokenToSend, state: true, run: inRun((*runner).annotate), dryRun: inRun((*runner).preview)},
	{name: vocab.ModeRecord, help: "only record the current system in the spool: no network, for the switch to wait on",
		ref:   "only record the running system in the spool: no network, no diff, no trace export; what the NixOS service runs while a switch waits",
		spans: spansDeferred, token: tokenNone, state: true, run: inRun((*runner).record), dryRun: inRun((*runner).preview)},
	{name: vocab.ModeFlush, help: "deliver what is spooled; with --dry-run, list it",
		ref:   "deliver what is spooled; with `--dry-run`, list it (`{\"pending\": [{\"id\", \"deploy\", \"time\", \"attempts\", \"lastError\", \"annotation\"}]}`)",
		spans: spansExported, token: tokenToSend, state: true, run: inRun((*runner).flush), dryRun: inRun((*runner).listPending)},
	{name: vocab.ModeDrop, args: "ID...", help: "remove spooled entries Axiom keeps refusing (--dry-run shows them)",
		ref:   "remove spooled entries by id (from `flush --dry-run`), for annotations Axiom keeps refusing; the ids may come among the flags; with `--dry-run`, show them (`{\"drop\": [...]}`)",
		takes: takesIDs, missing: "drop needs the ids of the entries to drop: flush --dry-run lists them",
		spans: spansDropped, token: tokenNone, state: true, run: inRun((*runner).drop), dryRun: inRun((*runner).showDrop)},
	{name: vocab.ModeRollout, args: "[flags] -- COMMAND [ARGS...]",
		help:  "run a fleet's deploy command, trace it, and annotate it as one range; exits with the command's status",
		ref:   "run a fleet's deploy command, trace it and annotate it as one range; see [rollout.md](rollout.md)",
		takes: takesCommand, missing: "rollout needs the deploy command after --: axiom-deploy-annotate rollout [flags] -- COMMAND [ARGS...]",
		spans: spansExported, token: tokenToSend, state: true, run: (*runner).rollout,
		// A dry run sends and writes nothing, and what rollout would send
		// is known only once the command has run.
		noDryRun: "rollout has no dry run: it would have to run the deploy command; run the command alone, or rollout without --dry-run"},
	{name: vocab.ModeDashboard, help: "create or update the Axiom dashboard of the deploy runs (--dry-run prints its body)",
		ref:   "create or update the deploy dashboard; see [dashboards.md](dashboards.md)",
		spans: spansDropped, token: tokenRequired, traces: true, run: inRun((*runner).dashboard), dryRun: inRun((*runner).dashboardBody)},
	{name: vocab.ModeFleet, help: "print what each host runs, from the traces dataset",
		ref:   "print what each host runs, from the traces dataset; see [dashboards.md](dashboards.md#the-fleet-in-a-terminal)",
		spans: spansDropped, token: tokenRequired, traces: true, run: inRun((*runner).fleet), dryRun: inRun((*runner).fleet)},
	{name: vocab.ModeMonitors, help: "create or update the Axiom monitors that alert on failed deploys, stuck deliveries, silent hosts and hosts left behind (--dry-run prints their bodies)",
		ref:   "create or update the Axiom monitors on failed deploys, stuck deliveries, silent hosts and hosts left behind; see [monitors.md](monitors.md)",
		spans: spansDropped, token: tokenRequired, traces: true, run: inRun((*runner).monitors), dryRun: inRun((*runner).monitorBodies)},
	{name: modeCheckConfig, help: "check the settings and exit: 0 when good, 2 when not",
		ref:   "check the settings and exit 0, or 2 with the reason; reads no token, runs no Nix, sends nothing (the modules run it at build time)",
		spans: spansDropped, token: tokenNone, configOnly: true},
}

// modeNamed is the mode of that name.
func modeNamed(name string) (*mode, bool) {
	for i := range modes {
		if string(modes[i].name) == name {
			return &modes[i], true
		}
	}
	return nil, false
}

// modeNames are the modes' names, as --help lists them.
func modeNames() []string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m.name)
	}
	return names
}

// modeOf splits the mode, when one comes first, from the rest of the
// command line.
func modeOf(args []string) (*mode, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &modes[0], args, nil
	}
	m, ok := modeNamed(args[0])
	if !ok {
		return nil, nil, usageError{fmt.Errorf("unknown mode %q: want %s", args[0], strings.Join(modeNames(), ", "))}
	}
	return m, args[1:], nil
}

// check says what is wrong with a command line for the mode: args are its
// arguments after the mode, rest those that are not flags.
func (m *mode) check(c config, args, rest []string) error {
	switch m.takes {
	case takesNothing:
		if len(rest) == 0 {
			break
		}
		if _, ok := modeNamed(rest[0]); ok {
			return usageError{fmt.Errorf("the mode goes first: axiom-deploy-annotate %s %s", rest[0], strings.Join(args[:len(args)-len(rest)], " "))}
		}
		return usageError{fmt.Errorf("unexpected argument %q", rest[0])}
	case takesIDs:
		if len(rest) == 0 {
			return usageError{errors.New(m.missing)}
		}
	case takesCommand:
		if len(rest) == 0 || len(rest) == len(args) || args[len(args)-len(rest)-1] != "--" {
			return usageError{errors.New(m.missing)}
		}
	}
	if c.dryRun && m.noDryRun != "" {
		return usageError{errors.New(m.noDryRun)}
	}
	if m.traces && c.TracesDataset == "" {
		return usageError{errors.New(string(m.name) + " needs the traces dataset: --traces-dataset NAME (or tracesDataset in the config)")}
	}
	return nil
}

// modeFunc is what a mode does under the run's span, with an annotator on
// the state directory when the mode keeps state there.
type modeFunc func(r *runner, ctx context.Context, a *annotator.Annotator) (outcome, error)

// inRun runs f under the run's root span, "run", and says what it did.
func inRun(f modeFunc) func(*runner) (int, error) {
	return func(r *runner) (int, error) { return exitOK, r.inRunSpan(f) }
}
