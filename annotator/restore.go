package annotator

import (
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator/outbox"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// LeadTime is the lead time for changes of a deploy at a time of a
// revision committed at commit: the time between them. ok is false when
// the commit time is unknown, on a rollback (an old revision brought
// back), and when the commit is later than the deploy (clock skew).
func LeadTime(at time.Time, commit *time.Time, rollback bool) (lead time.Duration, ok bool) {
	if commit == nil || rollback || at.Before(*commit) {
		return 0, false
	}
	return at.Sub(*commit), true
}

// commitAttributes are deploy.commit_time and deploy.lead_time of a deploy
// at a time, where its revision's commit time is known.
func commitAttributes(at time.Time, commit *time.Time, rollback bool) []attribute.KeyValue {
	if commit == nil {
		return nil
	}
	attrs := []attribute.KeyValue{vocab.DeployCommitTime.String(commit.UTC().Format(time.RFC3339))}
	if lead, ok := LeadTime(at, commit, rollback); ok {
		attrs = append(attrs, vocab.DeployLeadTime.Float64(lead.Seconds()))
	}
	return attrs
}

// restoreAttributes are deploy.time_to_restore of a deploy that ended an
// unhealthy streak.
func restoreAttributes(e *outbox.Entry) []attribute.KeyValue {
	if e.UnhealthySince.IsZero() || e.Time.Before(e.UnhealthySince) {
		return nil
	}
	return []attribute.KeyValue{vocab.DeployTimeToRestore.Float64(e.Time.Sub(e.UnhealthySince).Seconds())}
}

// warnSkew says in a debug line that a deploy has no lead time because
// its revision was committed after it was deployed.
func (a *Annotator) warnSkew(g *nixinfo.Generation, at time.Time) {
	if g.CommitTime != nil && !g.Rollback && at.Before(*g.CommitTime) {
		a.log.Debug("no lead time: the revision's commit time is after the deploy's (clock skew?)", "commit_time", g.CommitTime.Format(time.RFC3339), "deploy_time", at.Format(time.RFC3339))
	}
}

// restore works out, once its health is judged, whether deploy e ends an
// unhealthy streak of its host, and when that streak began
// (Entry.UnhealthySince), from the state's history with e in its place.
func (a *Annotator) restore(e *outbox.Entry) {
	if e.Rollout || e.Discovered == nil || e.Health == nil || !e.UnhealthySince.IsZero() {
		return
	}
	h, err := a.outbox.History()
	if err != nil {
		a.log.Warn("time to restore unknown: the history cannot be read", "err", err)
		return
	}
	d := outbox.DeployedOf(e)
	i := len(h)
	for j, o := range h {
		if o.StorePath == d.StorePath && o.Seq == d.Seq && o.Time.Equal(d.Time) {
			i = j
		}
	}
	if i == len(h) {
		// Not recorded (a dry run's preview): the newest deploy.
		h = append(h, d)
	} else {
		h[i] = d
	}
	since, fromOldest := streakStart(h, i)
	if since.IsZero() {
		return
	}
	if fromOldest && len(h) >= outbox.HistoryLimit {
		a.log.Debug("the unhealthy streak began before the oldest deploy the history keeps: time to restore is measured from that one", "since", since.Format(time.RFC3339), "kept", outbox.HistoryLimit)
	}
	e.UnhealthySince = since
}

// streakStart is when the unhealthy streak that deploy i of history h
// (oldest first, in the order recorded) ends began; zero when it ends
// none. fromOldest says the streak began with h[0], so that it may have
// begun before what h keeps.
//
// A failed or degraded deploy, and the deploy a rollback undid (the one
// just before it), begin a streak or carry one on. Only a healthy deploy
// ends it, or a rollback whose own health is healthy or unknown: it ends
// the streak that the deploy it undid began or carried on. A deploy of
// unknown health (not NixOS, systemd not asked, not judged yet) neither
// begins nor ends one, so where health is always unknown time to restore
// comes from rollbacks alone.
func streakStart(h []outbox.Deployed, i int) (since time.Time, fromOldest bool) {
	start := -1
	for j := 0; j <= i; j++ {
		d := h[j]
		bad := d.Health == health.Failed || d.Health == health.Degraded
		ends := false
		switch {
		case d.Rollback && j > 0:
			if start < 0 {
				start = j - 1
			}
			ends = !bad
		case bad:
			if start < 0 {
				start = j
			}
		case d.Health == health.Healthy:
			ends = start >= 0
		}
		if !ends {
			continue
		}
		if j == i {
			return h[start].Time, start == 0
		}
		start = -1
	}
	return time.Time{}, false
}
