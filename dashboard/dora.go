package dashboard

import "github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"

// The fields of a deploy's health and of the DORA keys.
var (
	fHealth        = vocab.APL(vocab.DeployHealth)
	fLeadTime      = vocab.APL(vocab.DeployLeadTime)
	fTimeToRestore = vocab.APL(vocab.DeployTimeToRestore)
)

// healthCounts are summarize terms that count a deploy's spans by the
// health they carry (a column health, from fHealth). A deploy is judged
// once, and every span of it that says its health says the same; spans
// that do not (a record made before the judgement) say nothing.
// deployHealth names it from those counts: failed, degraded, healthy,
// unknown, or empty when no span said.
var (
	healthCounts = "failed_spans = countif(health == " + vocab.Quote(vocab.HealthFailed) + "), degraded_spans = countif(health == " + vocab.Quote(vocab.HealthDegraded) +
		"), healthy_spans = countif(health == " + vocab.Quote(vocab.HealthHealthy) + "), unknown_spans = countif(health == " + vocab.Quote(vocab.HealthUnknown) + ")"
	deployHealth = "health = case(failed_spans > 0, " + vocab.Quote(vocab.HealthFailed) + ", degraded_spans > 0, " + vocab.Quote(vocab.HealthDegraded) +
		", healthy_spans > 0, " + vocab.Quote(vocab.HealthHealthy) + ", unknown_spans > 0, " + vocab.Quote(vocab.HealthUnknown) + ", '')"
)

// changeFailures is one row per deploy, at its time, saying whether it
// is a failed change (failed_change): its units failed (health failed),
// only units failed before it still failed (degraded), or it is a
// rollback. A rollback stands for the deploy it undid, which no span
// names: each counts once as one failed change. Restore is the time to
// restore in seconds that a healthy deploy after failed changes carries.
func changeFailures(dataset string, lines ...string) string {
	return deploys(dataset, "health = "+fHealth+", rollback = "+fRollback+", restore = "+fTimeToRestore,
		healthCounts+", rollback = countif(rollback == true), restore = max(restore)",
		append([]string{
			"extend failed = failed_spans > 0, degraded = degraded_spans > 0, rolled_back = rollback > 0",
			"extend failed_change = failed or degraded or rolled_back",
		}, lines...)...)
}

// weeklyHours is p50 and p90 per week, in hours, of a time in seconds
// that a deploy's spans carry (field), over the deploys that carry it.
func weeklyHours(dataset, field string) string {
	return deploys(dataset, "seconds = "+field, "seconds = max(seconds)",
		"where isnotnull(seconds)",
		"project _time = deployed, hours = seconds / 3600",
		"summarize percentiles_array(hours, 50, 90) by bin(_time, 7d)",
	)
}

// doraCharts are the four keys of DORA, under a note that says how each
// is counted: deploy frequency, lead time for changes, change failure
// rate and time to restore, per week, and the last two per host.
func doraCharts(dataset string, y int) []placed {
	return []placed{
		{Chart{ID: "dora", Type: "Note", Text: doraNote()}, 0, y, 12, 3},

		{Chart{ID: "frequency", Type: "TimeSeries", Name: "DORA deploy frequency: deploys per host per week", Query: &Query{APL: deploys(dataset, "", "",
			"project _time = deployed, host",
			"summarize deploys = count() by bin(_time, 7d), host",
		)}}, 0, y + 3, 6, 6},

		{Chart{ID: "lead-time", Type: "TimeSeries", Name: "DORA lead time for changes in hours: p50 and p90 per week", Query: &Query{APL: weeklyHours(dataset, fLeadTime)}}, 6, y + 3, 6, 6},

		{Chart{ID: "change-failure", Type: "TimeSeries", Name: "DORA change failure rate: failed, degraded and rolled-back deploys per week (%)", Query: &Query{APL: changeFailures(dataset,
			"project _time = deployed, failed_change",
			"summarize change_failure_percent = avg(iff(failed_change, 100.0, 0.0)) by bin(_time, 7d)",
		)}}, 0, y + 9, 6, 6},

		{Chart{ID: "time-to-restore", Type: "TimeSeries", Name: "DORA time to restore in hours: p50 and p90 per week", Query: &Query{APL: weeklyHours(dataset, fTimeToRestore)}}, 6, y + 9, 6, 6},

		{Chart{ID: "change-failure-hosts", Type: "Table", Name: "DORA change failure rate and time to restore by host", Query: &Query{APL: changeFailures(dataset,
			"extend restore_hours = restore / 3600",
			"summarize deploys = count(), failed_changes = countif(failed_change), failed = countif(failed), degraded = countif(degraded), "+
				"rollbacks = countif(rolled_back), restores = countif(isnotnull(restore)), restore_p50_hours = percentile(restore_hours, 50), "+
				"restore_max_hours = max(restore_hours) by host",
			"extend change_failure_percent = round(100.0 * failed_changes / deploys, 1)",
			"order by change_failure_percent desc, deploys desc",
		)}}, 0, y + 15, 12, 6},
	}
}

func doraNote() string {
	return "## DORA: the four keys of delivery\n\n" +
		"Each deploy counts once, at the time it was first seen. " +
		"**Deploy frequency** is deploys per host per week. " +
		"**Lead time for changes** is a deploy's time less its revision's commit time (`" + string(vocab.DeployLeadTime) + "`; " +
		"known where the commit time is set, and not for rollbacks). " +
		"**Change failure rate** is the share of deploys that failed (units the deploy failed), were degraded (units failed before it still failed) " +
		"or are a rollback (`" + string(vocab.DeployHealth) + "`, `" + string(vocab.NixRollback) + "`): a rollback stands for the change it undid, " +
		"so a failed deploy that is then rolled back counts twice. A deploy whose health is unknown (nix-darwin, Home Manager, no systemd) counts as not failed. " +
		"**Time to restore** is, on the first healthy deploy of a host after failed, degraded or rolled-back ones, the time since the first of those (`" +
		string(vocab.DeployTimeToRestore) + "`)."
}
