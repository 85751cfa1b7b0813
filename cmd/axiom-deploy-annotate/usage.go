package main

import (
	"fmt"
	"io"
	"strings"
)

const usageHead = `Usage: axiom-deploy-annotate [MODE] [flags]

Tells Axiom once about the NixOS or nix-darwin system that runs now, or with
--scope home-manager your Home Manager generation: an annotation on the
chosen datasets, and a trace of the run.

Modes (the mode goes first):
`

const usageFlags = `
Flags (config file key in brackets):
`

const usageTail = `
Output: one line on stdout says what happened: annotated "TITLE" as ID [trace
ID]; already annotated: TITLE as ID; already recorded, not annotated (WHY):
"TITLE"; spooled, not yet delivered: "TITLE" (N attempts, last error: ...);
not delivered, spooled for the next run: "NAME"; recorded "NAME"; delivered
N, M still spooled. Logs go to stderr.

Exit status: 0 annotated, already annotated, recorded or spooled for later
(also when another run is delivering); 1 internal error; 2 usage or
configuration error; 3 not a NixOS or nix-darwin system (with --scope
home-manager: not a Home Manager generation); 4 state directory unusable; 5
Axiom refused or failed a dashboard, fleet or monitors request.
rollout exits with its command's status.
`

// printUsage prints the help, its modes from the modes table and its
// flags from the settings table.
func printUsage(w io.Writer) {
	io.WriteString(w, usageHead)
	for _, m := range modes {
		left := "  " + string(m.name)
		if m.args != "" {
			left += " " + m.args
		}
		if len(left) > 16 {
			fmt.Fprintln(w, left)
			left = ""
		}
		fmt.Fprintf(w, "%-18s%s\n", left, wrap(m.help, 18, 78))
	}
	io.WriteString(w, usageFlags)
	d := defaults()
	for _, s := range settings {
		left := "  --" + s.flag
		if s.arg != "" && s.arg != "BOOL" {
			left += " " + s.arg
		}
		help := s.help
		if s.key != "" {
			help += " [" + s.key + "]"
		}
		if def := s.value(&d).String(); def != "" && s.arg != "" && s.flag != "config" {
			help += " (" + def + ")"
		}
		fmt.Fprintf(w, "%-28s%s\n", left, wrap(help, 28, 79))
	}
	fmt.Fprintf(w, "%-28s%s\n", "  --help", "print this help")
	io.WriteString(w, usageTail)
}

// wrap folds text to width, indenting continuation lines by indent.
func wrap(text string, indent, width int) string {
	var b strings.Builder
	col := indent
	for i, word := range strings.Fields(text) {
		if i > 0 {
			if col+1+len(word) > width {
				b.WriteString("\n" + strings.Repeat(" ", indent))
				col = indent
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}
