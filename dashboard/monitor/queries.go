package monitor

import "strings"

// The fields the queries read, where Axiom keeps what
// cmd/axiom-deploy-annotate puts on its spans: semantic conventions in
// columns of their own, our attributes in the attributes.custom map. A
// column that a first deploy may not have made yet (a revision, a deploy's
// status) is read through column_ifexists, so that every query binds on a
// new dataset; a key missing from the map is null.
var (
	fHost       = semconvResource("host.name")
	fDeployment = semconvSpan("deployment.name")
	fRevision   = semconvSpan("vcs.ref.head.revision")
	fStatus     = semconvSpan("deployment.status")
	// deploySpans are the spans that say what a host runs: the run that
	// recorded a deploy and each delivery of it (a rollout's delivery
	// names no store path).
	deploySpans = "name in ('run', 'deliver') and isnotempty(" + semconvSpan("deployment.id") + ") and isnotempty(['attributes.custom']['nix.store_path'])"
)

const (
	fGeneration  = "tolong(['attributes.custom']['nix.generation'])"
	fLabel       = "tostring(['attributes.custom']['nix.label'])"
	fRollback    = "tobool(['attributes.custom']['nix.rollback'])"
	fFailedUnits = "tostring(['attributes.custom']['deploy.failed_units'])"
	fDeployTime  = "todatetime(['attributes.custom']['deploy.time'])"
	fMode        = "tostring(['attributes.custom']['deploy.mode'])"
	fOutcome     = "tostring(['attributes.custom']['deploy.outcome'])"
	fSpooled     = "tolong(['attributes.custom']['deploy.spooled'])"
)

// semconvSpan reads a span attribute of the semantic conventions from its
// own column, or, where Axiom kept it as one it does not know, from the
// custom map.
func semconvSpan(key string) string {
	return "coalesce(tostring(column_ifexists('attributes." + key + "', '')), tostring(['attributes.custom']['" + key + "']))"
}

// semconvResource reads a resource attribute of the semantic conventions
// from its own column or from the custom resource column.
func semconvResource(key string) string {
	return "coalesce(tostring(column_ifexists('resource." + key + "', '')), tostring(column_ifexists('resource.custom." + key + "', '')))"
}

// apl joins the lines of a query that starts from the dataset.
func apl(dataset string, lines ...string) string {
	return "['" + dataset + "']\n| " + strings.Join(lines, "\n| ")
}

// deployProblemQuery matches the one span that settles each deploy (its
// delivery, annotated or recorded: exactly once per deploy) when the
// deploy failed, left units failed or rolled back.
func deployProblemQuery(dataset string) string {
	return apl(dataset,
		"where name == 'deliver' and "+fOutcome+" in ('annotated', 'recorded')",
		"extend host = "+fHost+", generation = "+fGeneration+", revision = "+fRevision+", label = "+fLabel+
			", status = "+fStatus+", failed_units = "+fFailedUnits+", rolled_back = "+fRollback,
		"where status !in ('', 'succeeded') or failed_units !in ('', '[]') or rolled_back == true",
		"project _time, host, generation, revision, label, status, failed_units, rolled_back, deployment = "+fDeployment+", trace_id",
	)
}

// stuckQuery is, per host, 1 when every flush in the range left deploys
// undelivered or failed, else 0.
func stuckQuery(dataset string) string {
	return apl(dataset,
		"where name == 'run'",
		"extend host = "+fHost+", mode = "+fMode+", outcome = "+fOutcome+", spooled = "+fSpooled,
		"where mode == 'flush' and outcome != 'busy'",
		"summarize every_flush_left_deploys = min(iff(outcome == 'error' or spooled > 0, 1, 0)) by host",
	)
}

// silentQuery is, per host, the minutes since its last flush run.
func silentQuery(dataset string) string {
	return apl(dataset,
		"where name == 'run'",
		"extend host = "+fHost+", mode = "+fMode,
		"where mode == 'flush'",
		"summarize silent_minutes = (now() - max(_time)) / 1m by host",
	)
}

// behindQuery is, per host, how many minutes ago the fleet's newest deploy
// was made when the host runs another revision, else 0. What a host runs
// is its latest span that carries a deploy; the fleet's newest deploy is
// the latest of those that is not a rollback.
func behindQuery(dataset string) string {
	return apl(dataset,
		"where "+deploySpans,
		"extend host = "+fHost+", revision = "+fRevision+", deployed = "+fDeployTime+", rolled_back = "+fRollback,
		"summarize arg_max(_time, revision, deployed, rolled_back) by host",
		"where isnotempty(revision)",
		"extend newest_candidate = iff(rolled_back == true, datetime(null), deployed)",
		"summarize arg_max(newest_candidate, revision), hosts = make_list(bag_pack('host', host, 'revision', revision))",
		"mv-expand hosts",
		"extend host = tostring(hosts['host']), behind = tostring(hosts['revision']) != revision",
		"summarize behind_minutes = max(iff(behind, (now() - newest_candidate) / 1m, 0.0)) by host",
	)
}
