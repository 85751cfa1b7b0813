package fakeaxiom

import (
	"fmt"
	"slices"
	"strings"
)

// matchEventOperators are the tabular operators Axiom lets a MatchEvent
// monitor's query use: it filters and reshapes events, never aggregates.
var matchEventOperators = []string{"where", "extend", "extend-valid", "parse", "parse-kv",
	"project", "project-away", "project-keep", "project-rename", "project-reorder"}

// CheckMonitorQuery checks the shape Axiom documents for a monitor's APL:
// a MatchEvent query is one pipeline from a dataset through the operators
// above; a Threshold query ends in summarize and bins with bin, not
// bin_auto.
func CheckMonitorQuery(monitorType, apl string) error {
	code := stripLiterals(apl)
	statements := splitTop(code, ';')
	stages := splitTop(statements[len(statements)-1], '|')
	switch monitorType {
	case "MatchEvent":
		if len(statements) > 1 {
			return fmt.Errorf("a MatchEvent query is one pipeline: no let statements")
		}
		for _, st := range stages[1:] {
			if op := operator(st); !slices.Contains(matchEventOperators, op) {
				return fmt.Errorf("a MatchEvent query may not use %q: only %s", op, strings.Join(matchEventOperators, ", "))
			}
		}
	case "Threshold":
		if len(stages) < 2 || operator(stages[len(stages)-1]) != "summarize" {
			return fmt.Errorf("a Threshold query ends in summarize")
		}
		if strings.Contains(strings.ReplaceAll(code, " ", ""), "bin_auto(") {
			return fmt.Errorf("a Threshold query bins with bin, not bin_auto")
		}
	}
	return nil
}

// operator is the tabular operator a pipeline stage starts with, such as
// where or project-away.
func operator(stage string) string {
	stage = strings.TrimSpace(stage)
	end := strings.IndexFunc(stage, func(r rune) bool { return !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(stage)
	}
	return strings.ToLower(stage[:end])
}

// stripLiterals is apl without comments and with every string literal
// (bracketed names included) emptied, so that what is left is operators,
// names and punctuation.
func stripLiterals(apl string) string {
	var b strings.Builder
	for i := 0; i < len(apl); i++ {
		c := apl[i]
		switch {
		case c == '/' && i+1 < len(apl) && apl[i+1] == '/':
			for i < len(apl) && apl[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == '\'' || c == '"':
			verbatim := i > 0 && apl[i-1] == '@'
			for i++; i < len(apl) && apl[i] != c; i++ {
				if apl[i] == '\\' && !verbatim {
					i++
				}
			}
			b.WriteString("''")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitTop splits code at sep where it is outside every bracket.
func splitTop(code string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(code); i++ {
		switch code[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case sep:
			if depth == 0 {
				parts = append(parts, code[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, code[start:])
	// A trailing separator (a let statement's, say) leaves an empty part.
	if len(parts) > 1 && strings.TrimSpace(parts[len(parts)-1]) == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}
