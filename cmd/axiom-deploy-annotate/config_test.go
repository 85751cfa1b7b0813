package main

import (
	"encoding/json"
	"testing"
)

// FuzzParseConfigFile: any input is taken or refused without a panic, and
// what is taken survives a round trip through its JSON form.
func FuzzParseConfigFile(f *testing.F) {
	f.Add([]byte(`{"datasets":["deployments","infra"],"type":"nix-deploy","timeout":"20s","spoolLimit":5}`))
	f.Add([]byte(`{"tracesEndpoint":"","repositoryUrl":"github:me/dots"}`))
	f.Add([]byte(`{"timeout":"forever"}`))
	f.Add([]byte(`{"datasets":null}{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := defaults()
		if err := parseConfigFile(b, &c); err != nil {
			return
		}
		_ = c.validate()
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("taken config does not marshal: %v", err)
		}
		back := defaults()
		if err := parseConfigFile(out, &back); err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
	})
}
