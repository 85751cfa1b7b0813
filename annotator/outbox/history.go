package outbox

import (
	"errors"
	"slices"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo/health"
)

// HistoryLimit is how many deployed systems the state's history keeps.
const HistoryLimit = 32

// Deployed is a deploy the state's history keeps: which system, and the
// generation, revision and commit time it had when it was deployed, so
// that a later deploy of it can be named as it was, whatever the profile
// holds by then; whether it was a rollback, and its health once judged,
// so that time to restore can be measured. Records written before
// Rollback, CommitTime and Health were kept have none: not a rollback,
// commit time and health unknown.
type Deployed struct {
	Seq        uint64        `json:"seq,omitempty"`
	StorePath  string        `json:"storePath"`
	Generation *int          `json:"generation"`
	Revision   string        `json:"revision,omitempty"`
	Dirty      bool          `json:"dirty,omitempty"`
	CommitTime *time.Time    `json:"commitTime,omitempty"`
	Time       time.Time     `json:"time"`
	Rollback   bool          `json:"rollback,omitempty"`
	Health     health.Status `json:"health,omitempty"`
}

// checkHistory says what is wrong with a history read from state.json.
func checkHistory(h []Deployed) error {
	if len(h) > HistoryLimit {
		return errors.New("history longer than its limit")
	}
	for _, d := range h {
		if d.StorePath == "" {
			return errors.New("no store path in a history record")
		}
	}
	return nil
}

// DeployedOf is the history's record of entry e.
func DeployedOf(e *Entry) Deployed {
	d := Deployed{Seq: e.Seq, StorePath: e.StorePath, Generation: e.Generation, Time: e.Time}
	if g := e.Discovered; g != nil {
		d.Revision, d.Dirty, d.CommitTime, d.Rollback = g.Revision, g.Dirty, g.CommitTime, g.Rollback
	}
	if e.Health != nil {
		d.Health = e.Health.Status
	}
	return d
}

// deployedOfSettled is the history's record of a settled deploy, for state
// written before the history was kept.
func deployedOfSettled(r *Settled) Deployed {
	d := Deployed{Seq: r.Seq, StorePath: r.StorePath, Generation: r.Generation, Time: r.Time}
	if g := r.Discovered; g != nil {
		d.Revision, d.Dirty, d.CommitTime, d.Rollback = g.Revision, g.Dirty, g.CommitTime, g.Rollback
	}
	return d
}

// before says whether a was deployed before b: by sequence number, or by
// time when either has none (state from before sequence numbers).
func before(a, b Deployed) bool {
	if a.Seq != 0 && b.Seq != 0 {
		return a.Seq < b.Seq
	}
	return a.Time.Before(b.Time)
}

// remember is h with d in its place, oldest first, the oldest dropped
// beyond HistoryLimit. A deploy it holds already is not added twice; its
// health, once judged, is kept (d's when d's is known).
func remember(h []Deployed, d Deployed) []Deployed {
	for i, o := range h {
		if o.StorePath == d.StorePath && o.Seq == d.Seq && o.Time.Equal(d.Time) {
			if d.Health == "" || d.Health == o.Health {
				return h
			}
			h = slices.Clone(h)
			h[i].Health = d.Health
			return h
		}
	}
	i := len(h)
	for i > 0 && before(d, h[i-1]) {
		i--
	}
	h = slices.Insert(slices.Clone(h), i, d)
	if n := len(h) - HistoryLimit; n > 0 {
		h = h[n:]
	}
	return h
}

// History is the systems deployed here, oldest first, the newest recorded
// last: the state's history (at most HistoryLimit), the deploy settled last
// when state written before the history was kept has only that, and the
// deploys still spooled. Rollouts are not deploys of this host and are left
// out.
func (o *Outbox) History() ([]Deployed, error) {
	st, err := o.readStateAll()
	if err != nil {
		return nil, err
	}
	h := st.History
	if last, err := o.Last(); err != nil {
		return nil, err
	} else if last != nil {
		h = remember(h, deployedOfSettled(last))
	}
	pending, err := o.Pending()
	if err != nil {
		return nil, err
	}
	for _, e := range pending {
		if !e.Rollout {
			h = remember(h, DeployedOf(e))
		}
	}
	return h, nil
}
