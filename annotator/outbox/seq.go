package outbox

import (
	"strconv"
	"strings"
)

// Sequence numbers order deploys as they were recorded, whatever the clocks
// said: each entry gets one more than any given before. The last one given
// is kept in the file seq, so that a state.json whose number was never
// given here (restored from another machine, or edited) is recognised: its
// number would otherwise put it ahead of every deploy spooled here, which
// would then be recorded again and annotated twice.

// maxSeq bounds sequence numbers: every one is below it, far above any
// count of deploys, so that one more never overflows.
const maxSeq = 1 << 62

// givenSeq is the last sequence number given here; ok is false when that
// is unknown (no seq file yet, as in a state directory from before it).
func (o *Outbox) givenSeq() (seq uint64, ok bool) {
	if o.root == nil {
		return 0, false
	}
	b, err := o.root.ReadFile(seqName, 64)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n >= maxSeq {
		return 0, false
	}
	return n, true
}

// writeSeq keeps n as the last sequence number given. Not synced by
// itself: the spool entry that carries n is written durably after it,
// and state.json, which alone could carry n to a later run, is written
// durably in the same directory after that, which makes this rename
// durable too.
func (o *Outbox) writeSeq(n uint64) error {
	return writeAtomic(o.root, seqName, []byte(strconv.FormatUint(n, 10)), false)
}

// Last is what was settled last, nil when nothing was, its sequence number
// checked: one that was never given here, or that is out of range, is taken
// as 0, so that the record counts as older than every deploy spooled. A
// corrupt state file is set aside with a warning and counts as nothing;
// one that cannot be read (another user's, say) makes the state directory
// unusable: taken for nothing annotated, it would have the running system
// annotated again.
func (o *Outbox) Last() (*Settled, error) {
	r, err := o.readState()
	if err != nil || r == nil || r.Seq == 0 {
		return r, err
	}
	given, ok := o.givenSeq()
	if r.Seq < maxSeq && (!ok || r.Seq <= given) {
		return r, nil
	}
	if !o.warnedSeq {
		o.warnedSeq = true
		o.log.Warn("state.json holds a sequence number this state directory never gave (another machine's state, or an edit): what is spooled here counts as newer", "seq", r.Seq, "given", given)
	}
	c := *r
	c.Seq = 0
	return &c, nil
}

// nextSeq is the sequence number of an entry added now, after every one
// given, spooled or recorded in the state.
func (o *Outbox) nextSeq(pending []*Entry) (uint64, error) {
	seq, _ := o.givenSeq()
	last, err := o.Last()
	if err != nil {
		return 0, err
	}
	if last != nil {
		seq = max(seq, last.Seq)
	}
	for _, p := range pending {
		seq = max(seq, p.Seq)
	}
	return min(seq+1, maxSeq-1), nil
}
