package dashboard

import "strings"

// The fields the queries read, as Axiom stores the attributes that
// cmd/axiom-deploy-annotate puts on its spans.
const (
	fHost        = "tostring(['resource.host.name'])"
	fDeployment  = "tostring(['attributes.deployment.id'])"
	fRevision    = "tostring(['attributes.vcs.ref.head.revision'])"
	fGeneration  = "tolong(['attributes.custom']['nix.generation'])"
	fLabel       = "tostring(['attributes.custom']['nix.label'])"
	fOutcome     = "tostring(['attributes.custom']['deploy.outcome'])"
	fResult      = "tostring(['attributes.custom']['deploy.result'])"
	fMode        = "tostring(['attributes.custom']['deploy.mode'])"
	fSpooled     = "tolong(['attributes.custom']['deploy.spooled'])"
	fRollback    = "tobool(['attributes.custom']['nix.rollback'])"
	fTest        = "tobool(['attributes.custom']['nix.test_activation'])"
	fClosure     = "tolong(['attributes.custom']['nix.closure.size_after'])"
	fChanges     = "tolong(['attributes.custom']['nix.changes.count'])"
	fUpgrades    = "tolong(['attributes.custom']['nix.changes.upgrades'])"
	fDowngrades  = "tolong(['attributes.custom']['nix.changes.downgrades'])"
	fAdded       = "tolong(['attributes.custom']['nix.changes.added'])"
	fRemoved     = "tolong(['attributes.custom']['nix.changes.removed'])"
	fAnnotation  = "tostring(['attributes.custom']['axiom.annotation.id'])"
	newDeploys   = "outcome in ('annotated', 'recorded', 'spooled')"
	failedOrHeld = "outcome in ('error', 'spooled') or spooled > 0 or error == true"
	// short is the revision as ShortRevision writes it.
	short = "iff(revision endswith '-dirty', strcat(substring(revision, 0, 7), '-dirty'), substring(revision, 0, 7))"
)

// apl joins the lines of a query that starts from the dataset.
func apl(dataset string, lines ...string) string {
	return "['" + dataset + "']\n| " + strings.Join(lines, "\n| ")
}

// runs starts a query on the spans that speak of one host's deploy: the
// run that recorded it (or annotated it at once), and each delivery of it,
// all carrying its deployment.id and store path. A rollout's delivery names
// no store path.
func runs(dataset string, lines ...string) string {
	return apl(dataset, append([]string{"where name in ('run', 'deliver') and isnotempty(['attributes.deployment.id']) and isnotempty(['attributes.custom']['nix.store_path'])"}, lines...)...)
}

// charts are the dashboard's charts, top down, each with its place on
// the 12-column grid.
func charts(dataset string) []placed {
	return []placed{
		{Chart{ID: "note", Type: "Note", Text: note(dataset)}, 0, 0, 12, 3},

		{Chart{ID: "fleet-now", Type: "Table", Name: "Fleet now: what each host runs", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", generation = "+fGeneration+", revision = "+fRevision+", label = "+fLabel+", outcome = "+fOutcome,
			"summarize deployed = min(_time), arg_max(_time, generation, revision, label, outcome) by host, deployment",
			"summarize arg_max(deployed, generation, revision, label, outcome) by host",
			"extend age = now() - deployed, revision = "+short,
			"project host, generation, revision, label, deployed, age, last_outcome = outcome",
			"order by deployed desc",
		)}}, 0, 3, 12, 7},

		{Chart{ID: "rollouts", Type: "Table", Name: "Rollouts: hosts that reached each revision", Query: &Query{APL: apl(dataset,
			"where name in ('run', 'rollout')",
			"extend revision = "+fRevision+", host = "+fHost+", result = "+fResult,
			"where isnotempty(revision)",
			"summarize hosts_reached = dcountif(host, name == 'run'), first_deploy = minif(_time, name == 'run'), last_deploy = maxif(_time, name == 'run'), rollouts = countif(name == 'rollout'), rollouts_failed = countif(name == 'rollout' and result == 'failed'), hosts = make_set_if(host, name == 'run') by revision",
			"extend revision = "+short,
			"order by last_deploy desc",
		)}}, 0, 10, 7, 6},

		{Chart{ID: "revisions-now", Type: "Table", Name: "Revisions running now: hosts below the newest are behind", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", revision = "+fRevision,
			"summarize deployed = min(_time), arg_max(_time, revision) by host, deployment",
			"summarize arg_max(deployed, revision) by host",
			"summarize hosts = dcount(host), host_list = make_set(host), newest_deploy = max(deployed) by revision",
			"extend revision = "+short,
			"order by newest_deploy desc",
		)}}, 7, 10, 5, 6},

		{Chart{ID: "deploys", Type: "TimeSeries", Name: "Deploys by host", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", outcome = "+fOutcome,
			"where "+newDeploys,
			"summarize deploys = dcount(deployment) by bin_auto(_time), host",
		)}}, 0, 16, 12, 6},

		{Chart{ID: "outcomes", Type: "TimeSeries", Name: "Delivery: run outcomes", Query: &Query{APL: apl(dataset,
			"where name == 'run'",
			"extend outcome = "+fOutcome,
			"summarize runs = count() by bin_auto(_time), outcome",
		)}}, 0, 22, 6, 6},

		{Chart{ID: "problems", Type: "Table", Name: "Delivery: latest failed or spooled runs", Query: &Query{APL: apl(dataset,
			"where name in ('run', 'deliver')",
			"extend host = "+fHost+", mode = "+fMode+", outcome = "+fOutcome+", spooled = "+fSpooled+", annotation = "+fAnnotation,
			"where "+failedOrHeld,
			"project _time, host, span = name, mode, outcome, spooled, message = ['status.message'], annotation, trace_id",
			"order by _time desc",
			"take 50",
		)}}, 6, 22, 6, 6},

		{Chart{ID: "run-time", Type: "TimeSeries", Name: "Run time: p50 and p95 of run, discover and deliver", Query: &Query{APL: apl(dataset,
			"where name in ('run', 'discover', 'deliver')",
			"summarize percentiles_array(duration, 50, 95) by bin_auto(_time), name",
		)}}, 0, 28, 12, 6},

		{Chart{ID: "changes", Type: "Table", Name: "What changed: packages per deploy", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", generation = "+fGeneration+", test_activation = "+fTest+", changes = "+fChanges+", upgrades = "+fUpgrades+", downgrades = "+fDowngrades+", added = "+fAdded+", removed = "+fRemoved,
			"where isnotnull(changes)",
			"summarize arg_max(_time, host, generation, test_activation, changes, upgrades, downgrades, added, removed) by deployment",
			"project _time, host, generation, test_activation, changes, upgrades, downgrades, added, removed",
			"order by _time desc",
			"take 100",
		)}}, 0, 34, 6, 6},

		{Chart{ID: "closure-size", Type: "TimeSeries", Name: "What changed: closure size by host (bytes)", Query: &Query{APL: apl(dataset,
			"where name in ('run', 'deliver')",
			"extend host = "+fHost+", closure = "+fClosure,
			"where isnotnull(closure)",
			"summarize closure_bytes = max(closure) by bin_auto(_time), host",
		)}}, 6, 34, 6, 6},

		{Chart{ID: "frequency", Type: "TimeSeries", Name: "Deploy frequency: deploys per host per week", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", outcome = "+fOutcome,
			"where "+newDeploys,
			"summarize deploys = dcount(deployment) by bin(_time, 7d), host",
		)}}, 0, 40, 4, 6},

		{Chart{ID: "rollbacks", Type: "Table", Name: "Change failure: rollbacks per host", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment+", outcome = "+fOutcome+", rollback = "+fRollback,
			"where "+newDeploys,
			"summarize deploys = dcount(deployment), rollbacks = dcountif(deployment, rollback == true) by host",
			"extend rollback_percent = round(100.0 * rollbacks / deploys, 1)",
			"order by rollbacks desc",
		)}}, 4, 40, 4, 6},

		{Chart{ID: "stale-hosts", Type: "Table", Name: "Hosts not deployed for 30 days", Query: &Query{APL: runs(dataset,
			"extend host = "+fHost+", deployment = "+fDeployment,
			"summarize deployed = min(_time), last_run = max(_time) by host, deployment",
			"summarize last_deploy = max(deployed), last_run = max(last_run) by host",
			"where last_deploy < ago(30d)",
			"extend days_since_deploy = datetime_diff('day', now(), last_deploy)",
			"order by last_deploy asc",
		)}}, 8, 40, 4, 6},
	}
}

func note(dataset string) string {
	return "## Deploys of NixOS and nix-darwin hosts\n\n" +
		"Every `nixos-rebuild` or `darwin-rebuild` activation runs `axiom-deploy-annotate`, which annotates the deploy in Axiom " +
		"and traces its own run into the traces dataset `" + dataset + "`. A deploy is one trace: the `run` that recorded it " +
		"(with `discover` under it; on NixOS the switch waits only for this) and the `deliver` that told Axiom, both carrying " +
		"the deploy's `deployment.id`, host, generation, revision and, once delivered, what changed and the outcome. A " +
		"`rollout` span is a fleet rollout, whose hosts' runs join its trace.\n\n" +
		"This dashboard is made by `axiom-deploy-annotate dashboard`; running it again updates it, and it refuses to overwrite " +
		"edits made here unless given `--force`. `axiom-deploy-annotate fleet` prints the fleet table in a terminal. " +
		"Charts follow the time picker; \"not deployed for 30 days\" needs a range longer than 30 days."
}
