package dashboard

import (
	"slices"

	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// The fields the queries read, as Axiom stores the attributes that
// cmd/axiom-deploy-annotate puts on its spans (vocab.APL says how each is
// read).
var (
	// fHost is whose deploys a row speaks of: the host, or the user at
	// the host whose Home Manager generations they are ("alice@laptop
	// (hm)"), so that a host's Home Manager deploys never hide its
	// system's.
	fHost       = vocab.DeployerAPL()
	fScope      = vocab.ScopeAPL()
	fDeployment = vocab.APL(semconv.DeploymentIDKey)
	fRevision   = vocab.APL(semconv.VCSRefHeadRevisionKey)
	fDeployTime = vocab.APL(vocab.DeployTime)
	fStorePath  = vocab.APL(vocab.NixStorePath)
	fGeneration = vocab.APL(vocab.NixGeneration)
	fLabel      = vocab.APL(vocab.NixLabel)
	fOutcome    = vocab.APL(vocab.DeployOutcome)
	fResult     = vocab.APL(vocab.DeployResult)
	fMode       = vocab.APL(vocab.DeployMode)
	fDryRun     = vocab.APL(vocab.DeployDryRun)
	fSpooled    = vocab.APL(vocab.DeploySpooled)
	fRollback   = vocab.APL(vocab.NixRollback)
	fTest       = vocab.APL(vocab.NixTestActivation)
	fClosure    = vocab.APL(vocab.NixClosureSizeAfter)
	fChanges    = vocab.APL(vocab.NixChangesCount)
	fUpgrades   = vocab.APL(vocab.NixChangesUpgrades)
	fDowngrades = vocab.APL(vocab.NixChangesDowngrades)
	fAdded      = vocab.APL(vocab.NixChangesAdded)
	fRemoved    = vocab.APL(vocab.NixChangesRemoved)
	fAnnotation = vocab.APL(vocab.AxiomAnnotationID)

	// newDeploy is an outcome that says a deploy was recorded.
	newDeploy = "outcome in " + vocab.In(vocab.OutcomeAnnotated, vocab.OutcomeRecorded, vocab.OutcomeSpooled)
	// deployRun is a run span of a mode that records deploys, not a dry
	// run: the runs whose outcomes are counted.
	deployRun = "mode in " + vocab.In(vocab.ModeAnnotate, vocab.ModeRecord) + " and dry_run != true"
	// deliveryRun is a run span that records or delivers deploys: the runs
	// whose failures are listed.
	deliveryRun = "mode in " + vocab.In(vocab.ModeAnnotate, vocab.ModeRecord, vocab.ModeFlush) + " and dry_run != true"
)

const (
	// fMessage and fError are columns some spans lack.
	fMessage = "tostring(column_ifexists('status.message', ''))"
	fError   = "tobool(column_ifexists('error', false))"
	// short is the revision as ShortRevision writes it.
	short = "iff(revision endswith '-dirty', strcat(substring(revision, 0, 7), '-dirty'), substring(revision, 0, 7))"
	// listed is how many hosts a chart lists in one cell; the count beside
	// the list is exact (make_set keeps 128 values unless told).
	listed = "1000"
)

// apl joins the lines of a query that starts from the dataset.
var apl = vocab.Query

// runs starts a query on the spans that speak of one host's deploy: the
// run that recorded it (or annotated it at once), and each delivery of it,
// all carrying its host, deployment.id and store path (a rollout's
// delivery names no store path), each with the deploy's time: when it was
// first seen, whichever span says it. Runs that only carry what their
// host runs (flushes: CarriesRunning) are left out.
func runs(dataset string, lines ...string) string {
	return apl(dataset, append([]string{
		"where name in " + vocab.In(vocab.SpanRun, vocab.SpanDeliver),
		"where not" + carriedRun,
		"extend host = " + fHost + ", deployment = " + fDeployment + ", store_path = " + fStorePath,
		"where isnotempty(host) and isnotempty(deployment) and isnotempty(store_path)",
		"extend deployed = coalesce(" + fDeployTime + ", _time)",
	}, lines...)...)
}

// deploys is one row per deploy (host and deployment), at its time, of
// the deploys recorded, with what more is asked per deploy.
func deploys(dataset string, extend, more string, lines ...string) string {
	ext := "extend outcome = " + fOutcome
	if extend != "" {
		ext += ", " + extend
	}
	sum := "summarize deployed = min(deployed), new = countif(" + newDeploy + ")"
	if more != "" {
		sum += ", " + more
	}
	return runs(dataset, append([]string{ext, sum + " by host, deployment", "where new > 0"}, lines...)...)
}

// charts are the dashboard's charts, top down, each with its place on
// the 12-column grid.
func charts(dataset string) []placed {
	return slices.Concat([]placed{
		{Chart{ID: "note", Type: "Note", Text: note(dataset)}, 0, 0, 12, 3}},
		fleetCharts(dataset), deliveryCharts(dataset), changeCharts(dataset), doraCharts(dataset, 45))
}

// fleetCharts say what each host runs, and which revisions reached whom.
func fleetCharts(dataset string) []placed {
	return []placed{
		{Chart{ID: "fleet-now", Type: "Table", Name: "Fleet now: what each host runs, and whether its deploy failed", Query: &Query{APL: runs(dataset,
			"extend generation = "+fGeneration+", revision = "+fRevision+", label = "+fLabel+", outcome = "+fOutcome+", health = "+fHealth,
			"summarize deployed = min(deployed), "+healthCounts+", arg_max(_time, generation, revision, label, outcome) by host, deployment",
			"extend "+deployHealth,
			"summarize arg_max(deployed, generation, revision, label, health, outcome) by host",
			"extend age = now() - deployed, revision = "+short,
			"project host, generation, revision, label, deployed, age, health, last_outcome = outcome",
			"order by deployed desc",
		)}}, 0, 3, 12, 7},

		{Chart{ID: "rollouts", Type: "Table", Name: "Rollouts: hosts that reached each revision", Query: &Query{APL: apl(dataset,
			"where name in "+vocab.In(vocab.SpanRun, vocab.SpanRollout),
			"where not"+carriedRun,
			"extend revision = "+fRevision+", host = "+fHost+", result = "+fResult+", at = coalesce("+fDeployTime+", _time)",
			"where isnotempty(revision)",
			"summarize first_at = min(at), last_at = max(at), spans = count(), failed = countif(result == "+vocab.Quote(vocab.ResultFailed)+") by revision, name, host",
			"extend run = name == "+vocab.Quote(vocab.SpanRun),
			"summarize hosts_reached = countif(run), first_deploy = min(iff(run, first_at, datetime(null))), last_deploy = max(iff(run, last_at, datetime(null))), "+
				"rollouts = sumif(spans, name == "+vocab.Quote(vocab.SpanRollout)+"), rollouts_failed = sumif(failed, name == "+vocab.Quote(vocab.SpanRollout)+"), hosts = make_set_if(host, run, "+listed+") by revision",
			"extend revision = "+short,
			"order by last_deploy desc",
		)}}, 0, 10, 7, 6},

		{Chart{ID: "revisions-now", Type: "Table", Name: "Revisions running now: hosts below the newest are behind", Query: &Query{APL: runs(dataset,
			"extend revision = "+fRevision+", scope = "+fScope,
			"summarize deployed = min(deployed), arg_max(_time, revision, scope) by host, deployment",
			"summarize arg_max(deployed, revision, scope) by host",
			"summarize hosts = count(), host_list = make_set(host, "+listed+"), newest_deploy = max(deployed) by scope, revision",
			"extend revision = "+short,
			"order by newest_deploy desc",
		)}}, 7, 10, 5, 6},

		{Chart{ID: "deploys", Type: "TimeSeries", Name: "Deploys by host", Query: &Query{APL: deploys(dataset, "", "",
			"project _time = deployed, host",
			"summarize deploys = count() by bin_auto(_time), host",
		)}}, 0, 16, 12, 6},
	}
}

// deliveryCharts say how runs and deliveries went, and how long they took.
func deliveryCharts(dataset string) []placed {
	return []placed{
		{Chart{ID: "outcomes", Type: "TimeSeries", Name: "Delivery: outcomes of deploy runs", Query: &Query{APL: apl(dataset,
			"where name == "+vocab.Quote(vocab.SpanRun),
			"extend mode = "+fMode+", dry_run = "+fDryRun+", outcome = "+fOutcome,
			"where "+deployRun,
			"summarize runs = count() by bin_auto(_time), outcome",
		)}}, 0, 22, 6, 6},

		{Chart{ID: "problems", Type: "Table", Name: "Delivery: latest failed or spooled runs", Query: &Query{APL: apl(dataset,
			"where name in "+vocab.In(vocab.SpanRun, vocab.SpanDeliver),
			"extend host = "+fHost+", mode = "+fMode+", dry_run = "+fDryRun+", outcome = "+fOutcome+", spooled = "+fSpooled+
				", annotation = "+fAnnotation+", message = "+fMessage+", failed = "+fError,
			"where name == "+vocab.Quote(vocab.SpanDeliver)+" or ("+deliveryRun+")",
			"where outcome in "+vocab.In(vocab.OutcomeError, vocab.OutcomeSpooled)+" or spooled > 0 or failed == true",
			"project _time, host, span = name, mode, outcome, spooled, message, annotation, trace_id",
			"order by _time desc",
			"take 50",
		)}}, 6, 22, 6, 6},

		// tolong(duration) is nanoseconds whether Axiom keeps duration as
		// a timespan or as integer nanoseconds.
		{Chart{ID: "run-time", Type: "TimeSeries", Name: "Run time in seconds: p50 and p95 of run, discover and deliver", Query: &Query{APL: apl(dataset,
			"where name in "+vocab.In(vocab.SpanRun, vocab.SpanDiscover, vocab.SpanDeliver),
			"extend seconds = tolong(duration) / 1e9",
			"summarize percentiles_array(seconds, 50, 95) by bin_auto(_time), name",
		)}}, 0, 28, 12, 6},
	}
}

// changeCharts say what changed, and which hosts were left alone.
func changeCharts(dataset string) []placed {
	return []placed{
		{Chart{ID: "changes", Type: "Table", Name: "What changed: packages per deploy", Query: &Query{APL: runs(dataset,
			"extend generation = "+fGeneration+", test_activation = "+fTest+", changes = "+fChanges+", upgrades = "+fUpgrades+
				", downgrades = "+fDowngrades+", added = "+fAdded+", removed = "+fRemoved,
			"where isnotnull(changes)",
			"summarize deployed = min(deployed), arg_max(_time, generation, test_activation, changes, upgrades, downgrades, added, removed) by host, deployment",
			"project deployed, host, generation, test_activation, changes, upgrades, downgrades, added, removed",
			"order by deployed desc",
			"take 100",
		)}}, 0, 34, 6, 6},

		{Chart{ID: "closure-size", Type: "TimeSeries", Name: "What changed: closure size by host (bytes)", Query: &Query{APL: runs(dataset,
			"extend closure = "+fClosure,
			"where isnotnull(closure)",
			"summarize deployed = min(deployed), arg_max(_time, closure) by host, deployment",
			"project _time = deployed, host, closure",
			"summarize closure_bytes = max(closure) by bin_auto(_time), host",
		)}}, 6, 34, 6, 6},

		{Chart{ID: "stale-hosts", Type: "Table", Name: "Hosts not deployed for 30 days", Query: &Query{APL: runs(dataset,
			"summarize deployed = min(deployed), last_run = max(_time) by host, deployment",
			"summarize last_deploy = max(deployed), last_run = max(last_run) by host",
			"where last_deploy < ago(30d)",
			"extend days_since_deploy = datetime_diff('day', now(), last_deploy)",
			"order by last_deploy asc",
		)}}, 0, 40, 12, 5},
	}
}

func note(dataset string) string {
	return "## Deploys of NixOS and nix-darwin hosts, and of Home Manager\n\n" +
		"Every `nixos-rebuild` or `darwin-rebuild` activation, and every Home Manager activation with its module, runs `axiom-deploy-annotate`, which annotates the deploy in Axiom " +
		"and traces its own run into the traces dataset `" + dataset + "`. A deploy is one trace: the `run` that recorded it " +
		"(with `discover` under it; on NixOS the switch waits only for this) and the `deliver` that told Axiom, both carrying " +
		"the deploy's `" + string(semconv.DeploymentIDKey) + "`, host, generation, revision and, once delivered, what changed and the outcome. A " +
		"`rollout` span is a fleet rollout, whose hosts' runs join its trace. A user's Home Manager generations are listed apart from " +
		"their host's system, as `alice@laptop (hm)` (`" + string(vocab.NixScope) + "` `" + string(vocab.ScopeHomeManager) + "`).\n\n" +
		"Each deploy counts once, at the time it was first seen, however late it was delivered. " +
		"This dashboard is made by `axiom-deploy-annotate dashboard`; running it again updates it, and it refuses to overwrite " +
		"edits made here unless given `--force`. `axiom-deploy-annotate fleet` prints the fleet table in a terminal. " +
		"Charts follow the time picker; \"not deployed for 30 days\" needs a range longer than 30 days."
}
