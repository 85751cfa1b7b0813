package nix_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// everySetting sets each option the module declares under settings on
// NixOS to a value other than its default.
var everySetting = map[string]any{
	"tokenFile":       "/run/agenix/axiom",
	"apiEndpoint":     "http://127.0.0.1:8080/v2/annotations",
	"datasets":        []any{"deployments", "http-logs"},
	"type":            "production-deploy",
	"repositoryUrl":   "gitlab:example/nix-config",
	"environment":     "production",
	"annotate":        false,
	"tracesEndpoint":  "https://eu-central-1.aws.edge.axiom.co/v1/traces",
	"tracesDataset":   "deploy-traces",
	"tracesTokenFile": "/run/agenix/ingest",
	"timeout":         "1m",
	"hostname":        "web-1",
	"orgId":           "example-org-a1b2",
	"spoolLimit":      float64(20),
	"profile":         "/nix/var/nix/profiles/other",
	"commitTime":      float64(1700000000),
}

// renamedOptions are the options users set before the settings moved into
// settings, and the settings key each one sets now.
var renamedOptions = map[string]string{
	"tokenPath":         "tokenFile",
	"apiEndpoint":       "apiEndpoint",
	"datasets":          "datasets",
	"annotationType":    "type",
	"repositoryUrl":     "repositoryUrl",
	"environment":       "environment",
	"annotate":          "annotate",
	"tracing.dataset":   "tracesDataset",
	"tracing.endpoint":  "tracesEndpoint",
	"tracing.tokenPath": "tracesTokenFile",
}

// at is value at an option path such as "tracing.dataset", as the nested
// attribute sets eval.nix takes.
func at(path string, value any) map[string]any {
	parts := strings.Split(path, ".")
	v := value
	for i := len(parts) - 1; i >= 0; i-- {
		v = map[string]any{parts[i]: v}
	}
	return v.(map[string]any)
}

type fileCase struct {
	Platform string         `json:"platform"`
	Settings map[string]any `json:"settings,omitempty"`
}

type builtFile struct {
	Text     string   `json:"text"`
	Warnings []string `json:"warnings"`
}

// buildConfigFiles builds the configuration file of each case in one
// evaluation and returns what each holds, and the warnings of each.
func buildConfigFiles(t *testing.T, cases []fileCase) []builtFile {
	t.Helper()
	nixtest.Require(t)
	out := run(t, "nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode",
		"nix/tests/config-files.nix", "--argstr", "cases", toJSON(t, cases))
	var files []builtFile
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatalf("decoding the files: %v\n%s", err, out)
	}
	if len(files) != len(cases) {
		t.Fatalf("%d files for %d cases", len(files), len(cases))
	}
	return files
}

func decodeFile(t *testing.T, f builtFile) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(f.Text), &m); err != nil {
		t.Fatalf("the configuration file is not JSON: %v\n%s", err, f.Text)
	}
	return m
}

// changedKeys lists the keys whose presence or value differs between two
// configuration files.
func changedKeys(a, b map[string]any) []string {
	var keys []string
	for k, v := range b {
		if w, ok := a[k]; !ok || !reflect.DeepEqual(v, w) {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// TestSettingsOnceNix: each setting is one option, and lands in the
// configuration file under one key, once: set alone, an option changes
// that key and nothing else. The names from before settings still work,
// each with a warning naming its new option; tracing.enable turns export
// off through the same key.
func TestSettingsOnceNix(t *testing.T) {
	type change struct {
		option string // the option set, as a path under services.axiom-deploy-annotation
		value  any
		key    string // the key it must change
		want   any    // the key's value then
	}
	var changes []change
	for key, v := range everySetting {
		changes = append(changes, change{"settings." + key, v, key, v})
	}
	for old, key := range renamedOptions {
		changes = append(changes, change{old, everySetting[key], key, everySetting[key]})
	}
	changes = append(changes,
		change{"tracing.enable", false, "tracesEndpoint", ""},
		// A key the module has no option for goes through as it is.
		change{"settings.dashboardUid", "deploys", "dashboardUid", "deploys"},
	)
	sort.Slice(changes, func(i, j int) bool { return changes[i].option < changes[j].option })

	var declared struct {
		SettingsOptions []string `json:"settingsOptions"`
	}
	evalModule(t, "nixos", nil, &declared)
	for _, o := range declared.SettingsOptions {
		if _, ok := everySetting[o]; !ok {
			t.Errorf("settings.%s is declared but not in everySetting: add it, so that it is tested", o)
		}
	}

	cases := []fileCase{{Platform: "nixos"}}
	for _, c := range changes {
		cases = append(cases, fileCase{Platform: "nixos", Settings: at(c.option, c.value)})
	}
	files := buildConfigFiles(t, cases)
	defaults := decodeFile(t, files[0])
	if len(files[0].Warnings) > 0 {
		t.Errorf("warnings at the defaults: %q", files[0].Warnings)
	}

	for i, c := range changes {
		f := files[i+1]
		t.Run(c.option, func(t *testing.T) {
			got := decodeFile(t, f)
			if keys := changedKeys(defaults, got); !slices.Equal(keys, []string{c.key}) {
				t.Errorf("changed keys %q, want only %s", keys, c.key)
			}
			if !reflect.DeepEqual(got[c.key], c.want) {
				t.Errorf("%s = %#v, want %#v", c.key, got[c.key], c.want)
			}
			if n := strings.Count(f.Text, fmt.Sprintf("%q:", c.key)); n != 1 {
				t.Errorf("%q appears %d times in %s", c.key, n, f.Text)
			}

			newName, renamed := renamedOptions[c.option]
			switch {
			case !renamed && len(f.Warnings) > 0:
				t.Errorf("warnings: %q", f.Warnings)
			case renamed:
				want := fmt.Sprintf("`services.axiom-deploy-annotation.%s' defined in `settings' has been renamed to `services.axiom-deploy-annotation.settings.%s'", c.option, newName)
				if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], want) {
					t.Errorf("warnings %q, want one saying %s", f.Warnings, want)
				}
			}
		})
	}
}

// TestStateDirFixedNix: the state directory is the platform's (on NixOS the
// services' StateDirectory), not a setting: another value fails the
// evaluation, naming it.
func TestStateDirFixedNix(t *testing.T) {
	nixtest.Require(t)
	for _, platform := range []string{"nixos", "darwin", "home-manager"} {
		t.Run(platform, func(t *testing.T) {
			out, err := evalError(t, platform, map[string]any{"settings": map[string]any{"stateDir": "/srv/axiom"}})
			if err == nil || !strings.Contains(out, "services.axiom-deploy-annotation.settings.stateDir' has conflicting definition values") {
				t.Errorf("evaluation: %v\n%s\nwant a conflict over settings.stateDir", err, out)
			}
		})
	}
}

// evalError evaluates the module as evalModule does, for a setting that
// must fail: it returns what Nix said.
func evalError(t *testing.T, platform string, settings map[string]any) (string, error) {
	t.Helper()
	return runOutput(t, "nix-instantiate", "--eval", "--strict", "--json", "nix/tests/eval.nix",
		"--argstr", "platform", platform, "--argstr", "settings", settingsJSON(t, settings))
}

// TestHomeManagerConfigFileNix: the user's scope in the configuration
// file: state under $XDG_STATE_HOME, the Home Manager profile and its
// current generation, a token file in the user's configuration directory,
// and the revision a flake passes in. Home Manager never had the names from
// before settings.
func TestHomeManagerConfigFileNix(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	files := buildConfigFiles(t, []fileCase{
		{Platform: "home-manager"},
		{Platform: "home-manager", Settings: map[string]any{"settings": map[string]any{"revision": rev + "-dirty"}}},
		{Platform: "home-manager-darwin"},
	})
	state := "/home/alice/.local/state"
	want := map[string]any{
		"scope":         "home-manager",
		"stateDir":      state + "/axiom-deploy-annotation",
		"profile":       state + "/nix/profiles/home-manager",
		"currentSystem": state + "/home-manager/gcroots/current-home",
		"tokenFile":     "/home/alice/.config/axiom-deploy-annotation/token",
	}
	got := decodeFile(t, files[0])
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if v, ok := got["revision"]; ok {
		t.Errorf("revision written without one: %v", v)
	}
	if keys := changedKeys(got, decodeFile(t, files[1])); !slices.Equal(keys, []string{"revision"}) || !strings.Contains(files[1].Text, `"revision":"`+rev+`-dirty"`) {
		t.Errorf("with a revision: changed keys %q, file %s", keys, files[1].Text)
	}
	if darwin := decodeFile(t, files[2]); darwin["stateDir"] != "/Users/alice/.local/state/axiom-deploy-annotation" {
		t.Errorf("darwin: stateDir = %v", darwin["stateDir"])
	}

	for old := range renamedOptions {
		out, err := evalError(t, "home-manager", at(old, everySetting[renamedOptions[old]]))
		if err == nil || !strings.Contains(out, "services.axiom-deploy-annotation."+old+"' does not exist") {
			t.Errorf("%s in Home Manager: %v\n%s\nwant an option that does not exist", old, err, out)
		}
	}
}
