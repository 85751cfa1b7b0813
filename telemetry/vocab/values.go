package vocab

import "go.opentelemetry.io/otel/attribute"

// Mode is a mode of the command as deploy.mode names it.
type Mode string

// The modes that make a span. check-config makes none.
const (
	// ModeAnnotate records the current system if it is a new deploy, then
	// delivers everything spooled.
	ModeAnnotate Mode = "annotate"
	// ModeRecord only records the current system in the spool.
	ModeRecord Mode = "record"
	// ModeFlush delivers what is spooled.
	ModeFlush Mode = "flush"
	// ModeDrop removes spooled entries Axiom keeps refusing.
	ModeDrop Mode = "drop"
	// ModeRollout runs a fleet's deploy command and annotates it.
	ModeRollout Mode = "rollout"
	// ModeDashboard creates or updates the dashboard.
	ModeDashboard Mode = "dashboard"
	// ModeFleet prints what each host runs.
	ModeFleet Mode = "fleet"
	// ModeMonitors creates or updates the monitors.
	ModeMonitors Mode = "monitors"
)

// Modes are the modes that make a span, in the order of the usage text.
var Modes = []Mode{ModeAnnotate, ModeRecord, ModeFlush, ModeDrop, ModeRollout, ModeDashboard, ModeFleet, ModeMonitors}

// KeyValue is m as the value of deploy.mode.
func (m Mode) KeyValue() attribute.KeyValue { return DeployMode.String(string(m)) }

// Outcome is what a run, a delivery or a rollout did, as deploy.outcome
// says it.
type Outcome string

// The outcomes.
const (
	// OutcomeAnnotated is a deploy or rollout Axiom annotated.
	OutcomeAnnotated Outcome = "annotated"
	// OutcomeAlreadyAnnotated is a deploy annotated by an earlier run.
	OutcomeAlreadyAnnotated Outcome = "already-annotated"
	// OutcomeAlreadyRecorded is a deploy recorded by an earlier run and
	// settled without an annotation (annotations were off, or it was
	// dropped).
	OutcomeAlreadyRecorded Outcome = "already-recorded"
	// OutcomeRecorded is a deploy recorded for a later delivery (record),
	// or settled with annotations off.
	OutcomeRecorded Outcome = "recorded"
	// OutcomeSpooled is an annotation not delivered, waiting in the spool
	// for the next run; on a flush, deploys it left there.
	OutcomeSpooled Outcome = "spooled"
	// OutcomeFlushed is a flush that left nothing in the spool.
	OutcomeFlushed Outcome = "flushed"
	// OutcomeBusy is a flush that found another run delivering the spool.
	OutcomeBusy Outcome = "busy"
	// OutcomeDropped is spooled entries removed by drop.
	OutcomeDropped Outcome = "dropped"
	// OutcomeDryRun is a dry run, which sends and writes nothing.
	OutcomeDryRun Outcome = "dry-run"
	// OutcomeError is a run that failed; the span's status says why.
	OutcomeError Outcome = "error"
	// OutcomeCreated is a dashboard Axiom created.
	OutcomeCreated Outcome = "created"
	// OutcomeUpdated is a dashboard Axiom updated.
	OutcomeUpdated Outcome = "updated"
	// OutcomeFleet is the fleet view printed.
	OutcomeFleet Outcome = "fleet"
	// OutcomeMonitors is the monitors created or updated.
	OutcomeMonitors Outcome = "monitors"
)

// KeyValue is o as the value of deploy.outcome.
func (o Outcome) KeyValue() attribute.KeyValue { return DeployOutcome.String(string(o)) }

// Result is how a rollout's command ended, as deploy.result says it.
type Result string

// The results.
const (
	// ResultSucceeded is a command that exited 0.
	ResultSucceeded Result = "succeeded"
	// ResultFailed is a command that exited otherwise, was killed by a
	// signal, or did not start.
	ResultFailed Result = "failed"
)

// KeyValue is r as the value of deploy.result.
func (r Result) KeyValue() attribute.KeyValue { return DeployResult.String(string(r)) }

// Scope is whose deploy a span speaks of, as nix.scope says it.
type Scope string

// The scopes.
const (
	// ScopeSystem is a deploy of the machine's system: NixOS, nix-darwin.
	ScopeSystem Scope = "system"
	// ScopeHomeManager is a deploy of a user's Home Manager generation.
	ScopeHomeManager Scope = "home-manager"
)

// KeyValue is s as the value of nix.scope.
func (s Scope) KeyValue() attribute.KeyValue { return NixScope.String(string(s)) }

// Health is how a NixOS deploy ended, as deploy.health says it.
type Health string

// The healths.
const (
	// HealthHealthy is a deploy that left no unit failed once the switch's
	// jobs were done.
	HealthHealthy Health = "healthy"
	// HealthFailed is a deploy that left units failed that were not failed
	// before it.
	HealthFailed Health = "failed"
	// HealthDegraded is a deploy whose only failed units were failed
	// before it too.
	HealthDegraded Health = "degraded"
	// HealthUnknown is a deploy systemd could not be asked about (no bus,
	// not NixOS), or judged once another system ran.
	HealthUnknown Health = "unknown"
)

// KeyValue is h as the value of deploy.health.
func (h Health) KeyValue() attribute.KeyValue { return DeployHealth.String(string(h)) }
