package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// shortRevision is a revision as people read it: seven hex digits, and
// -dirty when the tree had changes.
func shortRevision(rev string) string {
	base, dirty := strings.CutSuffix(rev, "-dirty")
	if len(base) > 7 {
		base = base[:7]
	}
	if dirty {
		base += "-dirty"
	}
	return base
}

// age is how long ago t was, in the largest unit that fits.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

const (
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// notes are what is worth a look about h, the most serious first.
func (h Host) notes() (notes []string, serious bool) {
	switch {
	case h.DeployFailed:
		notes = append(notes, "deploy failed")
	case h.Degraded:
		notes = append(notes, "degraded")
	}
	if h.Failed {
		notes = append(notes, "delivery failed")
	}
	if h.Spooled > 0 {
		notes = append(notes, fmt.Sprintf("%d spooled", h.Spooled))
	} else if h.Held {
		notes = append(notes, "spooled")
	}
	if h.Behind {
		notes = append(notes, "behind")
	}
	if h.Stale {
		notes = append(notes, "not deployed for "+strings.TrimSuffix(age(StaleAfter), " ago"))
	}
	return notes, h.Failed || h.DeployFailed
}

// Render writes the fleet as aligned columns, one host a line; colour
// (only when asked) marks what needs a look. No hosts is one sentence.
func (f Fleet) Render(w io.Writer, colour bool) error {
	if len(f.Hosts) == 0 {
		_, err := fmt.Fprintf(w, "no deploy runs in %s since %s\n", f.Dataset, f.Since.UTC().Format("2006-01-02 15:04 MST"))
		return err
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tGEN\tREVISION\tLABEL\tDEPLOYED\tOUTCOME\t")
	for _, h := range f.Hosts {
		gen := "-"
		switch {
		case h.Generation != nil:
			gen = strconv.FormatInt(*h.Generation, 10)
		case h.Test:
			gen = "test"
		}
		rev := shortRevision(h.Revision)
		if rev == "" {
			rev = "-"
		}
		label := h.Label
		if label == "" {
			label = "-"
		}
		deployed := h.Deployed.UTC().Format("2006-01-02 15:04") + " (" + age(f.Now.Sub(h.Deployed)) + ")"
		notes, serious := h.notes()
		note := strings.Join(notes, ", ")
		if colour && note != "" {
			c := yellow
			if serious {
				c = red
			}
			note = c + note + reset
		}
		// The notes come last, so that colour codes do not shift the
		// columns tabwriter aligns.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, gen, rev, label, deployed, h.Outcome, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// JSON writes the fleet for scripts.
func (f Fleet) JSON(w io.Writer) error {
	if f.Hosts == nil {
		f.Hosts = []Host{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}
