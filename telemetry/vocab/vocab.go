// Package vocab is what the command's traces say, declared once: the names
// of its spans, the keys of the attributes it sets (its own under deploy.,
// nix., axiom.annotation. and package.; those of the semantic conventions
// are go.opentelemetry.io/otel/semconv/v1.37.0's, and Attributes lists which
// it uses), the values of those that take one of a few, where Axiom keeps
// each attribute and how an APL query reads it. The producers set their
// attributes with these constants, the dashboard, the fleet view and the
// monitors build their queries from them, and the reference tables in the
// documentation are generated from them.
package vocab

import "go.opentelemetry.io/otel/attribute"

// The spans, and the event, the command makes. The Axiom SDK's
// "Annotations.Create" and otelhttp's HTTP client spans come beside them.
const (
	// SpanRun is the root span of a run of every mode but rollout.
	SpanRun = "run"
	// SpanDiscover is finding out what is deployed, under run.
	SpanDiscover = "discover"
	// SpanDeliver is settling one spooled annotation: a child of the run
	// that recorded it, linked to the run that delivers it.
	SpanDeliver = "deliver"
	// SpanDiff is working out what changed since the previous system,
	// under deliver.
	SpanDiff = "diff"
	// SpanLookup is asking Axiom whether it holds an annotation already,
	// before sending one that may have been sent.
	SpanLookup = "lookup"
	// SpanRollout is the root span of a rollout, whose command joins its
	// trace.
	SpanRollout = "rollout"
	// EventPackageChange is an event on diff for each package that
	// changed, up to 128.
	EventPackageChange = "package.change"
)

// The attributes of a run and a rollout.
const (
	// DeployMode is the mode the command ran in.
	DeployMode attribute.Key = "deploy.mode"
	// DeployOutcome is what the run, the delivery or the rollout did.
	DeployOutcome attribute.Key = "deploy.outcome"
	// DeployDryRun is whether the run was a dry run (--dry-run).
	DeployDryRun attribute.Key = "deploy.dry_run"
	// DeployForce is whether the run was given --force.
	DeployForce attribute.Key = "deploy.force"
	// DeploySpooled is how many deploys a flush left in the spool.
	DeploySpooled attribute.Key = "deploy.spooled"
	// DeployTime is when the deploy was first seen (RFC 3339): the same on
	// its record and on every delivery of it.
	DeployTime attribute.Key = "deploy.time"
	// DeployDirty is whether the configuration's tree had uncommitted
	// changes (a revision ending in -dirty).
	DeployDirty attribute.Key = "deploy.dirty"
	// DeployCommand is a rollout's command line, secrets masked.
	DeployCommand attribute.Key = "deploy.command"
	// DeployResult is how a rollout's command ended.
	DeployResult attribute.Key = "deploy.result"
	// DeployFailedUnits is the units a NixOS deploy left failed that were
	// not failed before it (comma-separated, at most 16 with
	// deploy.already_failed_units): what makes deployment.status failed.
	DeployFailedUnits attribute.Key = "deploy.failed_units"
	// DeployAlreadyFailedUnits is the units failed before a NixOS deploy
	// and still failed after it (comma-separated): not the deploy's doing.
	DeployAlreadyFailedUnits attribute.Key = "deploy.already_failed_units"
	// DeployHealth is how a NixOS deploy ended once the switch's jobs were
	// done.
	DeployHealth attribute.Key = "deploy.health"
	// DeployCommitTime is when the deployed revision was committed (RFC
	// 3339), where known: the commitTime setting (a flake's
	// self.lastModified), or git's committer time for a rollout.
	DeployCommitTime attribute.Key = "deploy.commit_time"
	// DeployLeadTime is the lead time for changes, in seconds: the deploy's
	// time less its revision's commit time. Not set on a rollback, which
	// brings back an old revision.
	DeployLeadTime attribute.Key = "deploy.lead_time"
	// DeployTimeToRestore is the time to restore, in seconds: on the first
	// healthy deploy of a host after a failed, degraded or rolled-back one
	// (or on the rollback that undid one), the time from the first of those
	// to this one, by their deploy times.
	DeployTimeToRestore attribute.Key = "deploy.time_to_restore"
)

// The attributes of a deployed system.
const (
	// NixStorePath is the deployed system's store path.
	NixStorePath attribute.Key = "nix.store_path"
	// NixGeneration is the profile's generation number; absent when no
	// generation is the deployed system.
	NixGeneration attribute.Key = "nix.generation"
	// NixScope is whose deploy it is: the machine's system, or a user's
	// Home Manager generation.
	NixScope attribute.Key = "nix.scope"
	// NixPlatform is nixos or darwin; under a Home Manager generation, the
	// system it runs on: nixos, darwin, or linux for another Linux.
	NixPlatform attribute.Key = "nix.platform"
	// NixLabel is the system's label (nixos-version, darwin-version).
	NixLabel attribute.Key = "nix.label"
	// NixPreviousStorePath is the store path of the system deployed
	// before, empty when unknown.
	NixPreviousStorePath attribute.Key = "nix.previous_store_path"
	// NixRollback is whether the deploy is a rollback: to a system deployed
	// before that is not the newest recorded, or to a generation older than
	// the profile's newest (a boot into an older one).
	NixRollback attribute.Key = "nix.rollback"
	// NixTestActivation is whether no generation of the profile is the
	// deployed system (nixos-rebuild test, a boot-menu pick).
	NixTestActivation attribute.Key = "nix.test_activation"
	// NixChangesCount is how many packages changed since the previous
	// system.
	NixChangesCount attribute.Key = "nix.changes.count"
	// NixChangesUpgrades is how many packages went to a newer version.
	NixChangesUpgrades attribute.Key = "nix.changes.upgrades"
	// NixChangesDowngrades is how many packages went to an older version.
	NixChangesDowngrades attribute.Key = "nix.changes.downgrades"
	// NixChangesAdded is how many packages were added.
	NixChangesAdded attribute.Key = "nix.changes.added"
	// NixChangesRemoved is how many packages were removed.
	NixChangesRemoved attribute.Key = "nix.changes.removed"
	// NixChangesEventsDropped is how many changes had no package.change
	// event, past the first 128.
	NixChangesEventsDropped attribute.Key = "nix.changes.events_dropped"
	// NixClosureSizeBefore is the previous system's closure size in bytes.
	NixClosureSizeBefore attribute.Key = "nix.closure.size_before"
	// NixClosureSizeAfter is the deployed system's closure size in bytes.
	NixClosureSizeAfter attribute.Key = "nix.closure.size_after"
)

// The attributes of an annotation, and of a package change.
const (
	// AxiomAnnotationID is the id Axiom gave the annotation.
	AxiomAnnotationID attribute.Key = "axiom.annotation.id"
	// AxiomAnnotationTitle is the annotation's title.
	AxiomAnnotationTitle attribute.Key = "axiom.annotation.title"
	// AxiomAnnotationAttempts is how many times the annotation was sent,
	// over every run that tried.
	AxiomAnnotationAttempts attribute.Key = "axiom.annotation.attempts"
	// AxiomAnnotationFound is whether Axiom held the annotation already (a
	// run had stopped while sending it), so that it was not sent again.
	AxiomAnnotationFound attribute.Key = "axiom.annotation.found"

	// PackageName is the changed package's name.
	PackageName attribute.Key = "package.name"
	// PackageBefore is the package's versions before.
	PackageBefore attribute.Key = "package.before"
	// PackageAfter is the package's versions after.
	PackageAfter attribute.Key = "package.after"
	// PackageChange is upgrade, downgrade, added, removed or changed.
	PackageChange attribute.Key = "package.change"
)
