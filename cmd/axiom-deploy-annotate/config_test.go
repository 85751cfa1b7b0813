package main

import (
	"encoding/json"
	"slices"
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

// TestUserStateDir: a user's state directory is under $XDG_STATE_HOME, else
// $HOME/.local/state; a relative path in either is ignored, not taken from
// the working directory.
func TestUserStateDir(t *testing.T) {
	for _, tc := range []struct{ xdg, home, want string }{
		{"/x/state", "/home/u", "/x/state/axiom-deploy-annotation"},
		{"", "/home/u", "/home/u/.local/state/axiom-deploy-annotation"},
		{"state", "/home/u", "/home/u/.local/state/axiom-deploy-annotation"},
		{"./state", "/home/u", "/home/u/.local/state/axiom-deploy-annotation"},
		{"state", "home", systemStateDir},
		{"", "", systemStateDir},
	} {
		env := map[string]string{"XDG_STATE_HOME": tc.xdg, "HOME": tc.home}
		if got := userStateDir(func(k string) string { return env[k] }); got != tc.want {
			t.Errorf("XDG_STATE_HOME=%q HOME=%q: %s, want %s", tc.xdg, tc.home, got, tc.want)
		}
	}
}

// TestDropArgs: drop's ids may come before, between and after its flags
// (they were once taken with the flags after them as ids); after "--"
// everything is an id.
func TestDropArgs(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		ids   []string
		state string
		dry   bool
	}{
		{[]string{"A", "--state-dir", "X"}, []string{"A"}, "X", false},
		{[]string{"--state-dir", "X", "A", "--dry-run", "B"}, []string{"A", "B"}, "X", true},
		{[]string{"A", "B", "--dry-run"}, []string{"A", "B"}, defaultStateDir(), true},
		{[]string{"--dry-run", "--", "A", "--state-dir", "X"}, []string{"A", "--state-dir", "X"}, defaultStateDir(), true},
	} {
		c, ids, err := parseArgs(tc.args, true)
		if err != nil || !slices.Equal(ids, tc.ids) || c.StateDir != tc.state || c.dryRun != tc.dry {
			t.Errorf("%q: ids %q, state %s, dry run %v, %v; want %q, %s, %v", tc.args, ids, c.StateDir, c.dryRun, err, tc.ids, tc.state, tc.dry)
		}
	}
	if _, rest, _ := parseArgs([]string{"A", "--state-dir", "X"}, false); !slices.Equal(rest, []string{"A", "--state-dir", "X"}) {
		t.Errorf("without interspersed ids: %q", rest)
	}
}
