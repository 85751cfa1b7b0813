package main

import "flag"

// parseAll parses args and returns the arguments that are not flags: with
// interspersed, from anywhere among the flags until a "--"; otherwise
// those after the last flag.
func parseAll(set *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	var rest []string
	for {
		if err := parseFlags(set, args); err != nil {
			return nil, err
		}
		left := set.Args()
		ended := len(left) < len(args) && args[len(args)-len(left)-1] == "--"
		if !interspersed || ended || len(left) == 0 {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}
