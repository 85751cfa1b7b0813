package monitor

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// The fields the queries read, where Axiom keeps what
// cmd/axiom-deploy-annotate puts on its spans (vocab.APL says how each is
// read, so that every query binds on a new dataset).
var (
	// fHost is whose deploys: the host, or "alice@laptop (hm)" for a
	// user's Home Manager generations there, each alerted on apart.
	fHost        = vocab.DeployerAPL()
	fScope       = vocab.ScopeAPL()
	fDeployment  = vocab.APL(semconv.DeploymentNameKey)
	fRevision    = vocab.APL(semconv.VCSRefHeadRevisionKey)
	fStatus      = vocab.APL(semconv.DeploymentStatusKey)
	fGeneration  = vocab.APL(vocab.NixGeneration)
	fLabel       = vocab.APL(vocab.NixLabel)
	fRollback    = vocab.APL(vocab.NixRollback)
	fFailedUnits = vocab.APL(vocab.DeployFailedUnits)
	fDeployTime  = vocab.APL(vocab.DeployTime)
	fMode        = vocab.APL(vocab.DeployMode)
	fOutcome     = vocab.APL(vocab.DeployOutcome)
	fSpooled     = vocab.APL(vocab.DeploySpooled)
	// deploySpans are the spans that say what a host runs: the run that
	// recorded a deploy and each delivery of it (a rollout's delivery
	// names no store path).
	deploySpans = "name in " + vocab.In(vocab.SpanRun, vocab.SpanDeliver) +
		" and isnotempty(" + vocab.APL(semconv.DeploymentIDKey) + ") and isnotempty(" + vocab.APL(vocab.NixStorePath) + ")"
)

// apl joins the lines of a query that starts from the dataset.
var apl = vocab.Query

// deployProblemQuery matches the one span that settles each deploy (its
// delivery, annotated or recorded: exactly once per deploy) when the
// deploy failed, left units failed or rolled back.
func deployProblemQuery(dataset string) string {
	return apl(dataset,
		"where name == "+vocab.Quote(vocab.SpanDeliver)+" and "+fOutcome+" in "+vocab.In(vocab.OutcomeAnnotated, vocab.OutcomeRecorded),
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
		"where name == "+vocab.Quote(vocab.SpanRun),
		"extend host = "+fHost+", mode = "+fMode+", outcome = "+fOutcome+", spooled = "+fSpooled,
		"where mode == "+vocab.Quote(vocab.ModeFlush)+" and outcome != "+vocab.Quote(vocab.OutcomeBusy),
		"summarize every_flush_left_deploys = min(iff(outcome == "+vocab.Quote(vocab.OutcomeError)+" or spooled > 0, 1, 0)) by host",
	)
}

// silentQuery is, per host, the minutes since its last flush run. A Home
// Manager flush runs only while its user's service manager does, so it
// says nothing of the host: only the system's flushes count.
func silentQuery(dataset string) string {
	return apl(dataset,
		"where name == "+vocab.Quote(vocab.SpanRun),
		"extend host = "+fHost+", mode = "+fMode+", scope = "+fScope,
		"where mode == "+vocab.Quote(vocab.ModeFlush)+" and scope == "+vocab.Quote(vocab.ScopeSystem),
		"summarize silent_minutes = (now() - max(_time)) / 1m by host",
	)
}

// behindQuery is, per host, how many minutes ago the fleet's newest deploy
// was made when the host runs another revision, else 0. What a host runs
// is its latest span that carries a deploy (every flush carries the one it
// runs, with that deploy's time); the fleet's newest deploy is
// the latest of those that is not a rollback, of the same scope: a Home
// Manager configuration's commits are not the systems'.
func behindQuery(dataset string) string {
	return apl(dataset,
		"where "+deploySpans,
		"extend host = "+fHost+", revision = "+fRevision+", deployed = "+fDeployTime+", rolled_back = "+fRollback+", scope = "+fScope,
		"summarize arg_max(_time, revision, deployed, rolled_back, scope) by host",
		"where isnotempty(revision)",
		"extend newest_candidate = iff(rolled_back == true, datetime(null), deployed)",
		"summarize arg_max(newest_candidate, revision), hosts = make_list(bag_pack('host', host, 'revision', revision)) by scope",
		"mv-expand hosts",
		"extend host = tostring(hosts['host']), behind = tostring(hosts['revision']) != revision",
		"summarize behind_minutes = max(iff(behind, (now() - newest_candidate) / 1m, 0.0)) by host",
	)
}
