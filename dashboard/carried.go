package dashboard

import (
	"slices"

	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// A run that records no deploy of its own still says, with the keys of a
// deploy's spans, what its host runs now: every flush (and every round of
// delivery a run makes as it ends, which says what it left spooled), and
// an annotate or record that found the system recorded already. Those
// spans say a host is alive and what it runs; they are no deploy. The
// charts and the fleet view tell them apart by mode and outcome, so each
// deploy counts once, at its time.
var (
	carryingModes    = []vocab.Mode{vocab.ModeFlush}
	carryingOutcomes = []vocab.Outcome{vocab.OutcomeAlreadyAnnotated, vocab.OutcomeAlreadyRecorded, vocab.OutcomeFlushed, vocab.OutcomeBusy}
)

// CarriesRunning says whether a span is one that only carries what its host
// runs now: a run span of the flush mode, one that says how many deploys
// it left spooled (a round of delivery), or one whose outcome records no
// deploy. Such a span is not one of a deploy's own, whatever deployment
// it names. carriedRun says the same in APL.
func CarriesRunning(name string, mode vocab.Mode, outcome vocab.Outcome, saysSpooled bool) bool {
	return name == vocab.SpanRun && (slices.Contains(carryingModes, mode) || saysSpooled || slices.Contains(carryingOutcomes, outcome))
}

// carriedRun is CarriesRunning as an APL condition on a span.
var carriedRun = "(name == " + vocab.Quote(vocab.SpanRun) + " and (" + fMode + " in " + vocab.In(carryingModes...) +
	" or isnotnull(" + fSpooled + ") or " + fOutcome + " in " + vocab.In(carryingOutcomes...) + "))"
