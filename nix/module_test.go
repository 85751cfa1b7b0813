package nix_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// The modules are evaluated by nix/tests/eval.nix, with stand-ins for
// nixpkgs' lib and pkgs and for the platform options they set, since the Nix
// these tests run cannot evaluate nixpkgs.

// evalModule evaluates the module of a platform ("nixos" or "darwin") with
// services.axiom-deploy-annotation set to settings (enable implied), and
// decodes the result into out.
func evalModule(t *testing.T, platform string, settings map[string]any, out any, extra ...string) {
	t.Helper()
	nixtest.Require(t)
	args := append([]string{"--eval", "--strict", "--json", "nix/tests/eval.nix",
		"--argstr", "platform", platform, "--argstr", "settings", settingsJSON(t, settings)}, extra...)
	stdout := run(t, "nix-instantiate", args...)
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("decoding the evaluation: %v\n%s", err, stdout)
	}
}

// buildConfigFile builds the module's configuration file and returns what it
// holds. With bin, the file is checked with that command at build time, as a
// native build does.
func buildConfigFile(t *testing.T, platform string, settings map[string]any, bin string) (map[string]any, error) {
	t.Helper()
	nixtest.Require(t)
	args := []string{"nix/tests/eval.nix", "-A", "configFile", "--no-out-link",
		"--argstr", "platform", platform, "--argstr", "settings", settingsJSON(t, settings)}
	if bin != "" {
		args = append(args, "--argstr", "bin", bin)
	}
	cmd := exec.Command("nix-build", args...)
	cmd.Dir = moduleRoot(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nix-build: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(b, &config); err != nil {
		t.Fatalf("the configuration file is not JSON: %v\n%s", err, b)
	}
	return config, nil
}

func settingsJSON(t *testing.T, settings map[string]any) string {
	if settings == nil {
		settings = map[string]any{}
	}
	return toJSON(t, settings)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = moduleRoot(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// runOutput runs a command that may fail, and returns what it wrote to
// stdout and stderr.
func runOutput(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type unit struct {
	WantedBy              []string       `json:"wantedBy"`
	ServiceConfig         map[string]any `json:"serviceConfig"`
	UnitConfig            map[string]any `json:"unitConfig"`
	StartLimitIntervalSec *float64       `json:"startLimitIntervalSec"`
}

type nixosEval struct {
	Services         map[string]unit           `json:"services"`
	Timers           map[string]unit           `json:"timers"`
	Users            map[string]map[string]any `json:"users"`
	Groups           map[string]map[string]any `json:"groups"`
	FailedAssertions []string                  `json:"failedAssertions"`
	Warnings         []string                  `json:"warnings"`
	ConfigFile       string                    `json:"configFile"`
}

// exitStatuses reads SuccessExitStatus, which systemd takes as a list or as
// a space-separated string.
func exitStatuses(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprint(x))
		}
		return s
	}
	return nil
}

func stringList(v any) []string {
	var s []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s = append(s, fmt.Sprint(x))
		}
	}
	return s
}

// TestNixOSUnitsNix pins what keeps a deploy safe from our units: none of
// them may end failed on the command's own exit statuses, since
// switch-to-configuration reports a failed deploy while any unit is failed.
func TestNixOSUnitsNix(t *testing.T) {
	const (
		main  = "axiom-deploy-annotation"
		flush = "axiom-deploy-annotation-flush"
	)
	cases := []struct {
		name         string
		settings     map[string]any
		flush        bool
		tracesToken  bool
		limitSeconds int
		renamed      int // options set by the names from before settings
	}{
		{name: "defaults", flush: true, limitSeconds: 30},
		{name: "no flush", settings: map[string]any{"flush": map[string]any{"enable": false}}, limitSeconds: 30},
		{
			name: "traces token and a longer timeout",
			settings: map[string]any{"settings": map[string]any{
				"tokenFile":       "/run/agenix/axiom",
				"tracesDataset":   "traces",
				"tracesTokenFile": "/run/agenix/ingest",
				"timeout":         "1m30s",
			}},
			flush: true, tracesToken: true, limitSeconds: 90,
		},
		{
			name: "traces token unused with tracing off",
			settings: map[string]any{
				"tracing":  map[string]any{"enable": false},
				"settings": map[string]any{"tracesTokenFile": "/run/agenix/ingest"},
			},
			flush: true, limitSeconds: 30,
		},
		{
			name:     "the traces token file is the annotation token's",
			settings: map[string]any{"settings": map[string]any{"tracesTokenFile": "/run/secrets/axiom_token"}},
			flush:    true, limitSeconds: 30,
		},
		{
			name: "the names from before settings",
			settings: map[string]any{
				"tokenPath": "/run/agenix/axiom",
				"tracing":   map[string]any{"dataset": "traces", "tokenPath": "/run/agenix/ingest"},
			},
			flush: true, tracesToken: true, limitSeconds: 30, renamed: 3,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got nixosEval
			evalModule(t, "nixos", c.settings, &got)
			if len(got.FailedAssertions) > 0 {
				t.Fatalf("assertions failed: %q", got.FailedAssertions)
			}
			if len(got.Warnings) != c.renamed {
				t.Errorf("warnings %q, want %d", got.Warnings, c.renamed)
			}
			if len(got.Services) == 0 {
				t.Fatal("no services")
			}
			tokenPath := "/run/secrets/axiom_token"
			if s, ok := c.settings["settings"].(map[string]any); ok && s["tokenFile"] != nil {
				tokenPath = s["tokenFile"].(string)
			}
			if p, ok := c.settings["tokenPath"].(string); ok {
				tokenPath = p
			}

			users := map[string]bool{}
			for name, u := range got.Services {
				sc := u.ServiceConfig
				statuses := exitStatuses(sc["SuccessExitStatus"])
				// The command's own, and systemd's when it cannot set up
				// the state or cache directory (238, 239) or, for the one
				// with a token, the credential (243).
				codes := []string{"1", "2", "3", "4", "238", "239"}
				if name == flush {
					codes = append(codes, "243")
				}
				for _, code := range codes {
					if !slices.Contains(statuses, code) {
						t.Errorf("%s: SuccessExitStatus = %v lacks %s: the unit would end failed, and every later switch with it", name, sc["SuccessExitStatus"], code)
					}
				}
				// Each switch starts both; systemd's default start limit
				// would leave them failed after a few quick switches.
				if u.StartLimitIntervalSec == nil || *u.StartLimitIntervalSec != 0 {
					t.Errorf("%s: startLimitIntervalSec = %v, want 0", name, u.StartLimitIntervalSec)
				}
				// A hang is the one failure left to the unit, and it must be bounded.
				limit, ok := sc["TimeoutStartSec"].(float64)
				if !ok || int(limit) <= c.limitSeconds {
					t.Errorf("%s: TimeoutStartSec = %v, want a number above the run's own %d s", name, sc["TimeoutStartSec"], c.limitSeconds)
				}
				if sc["Type"] != "oneshot" || sc["RemainAfterExit"] != nil {
					t.Errorf("%s: Type = %v, RemainAfterExit = %v; want a oneshot that runs again on every start", name, sc["Type"], sc["RemainAfterExit"])
				}
				// A dynamic user could not ask systemd over the bus how
				// the switch went.
				if sc["DynamicUser"] == true || sc["Group"] != sc["User"] {
					t.Errorf("%s: DynamicUser = %v, User = %v, Group = %v; want a system user and its group", name, sc["DynamicUser"], sc["User"], sc["Group"])
				}
				users[fmt.Sprint(sc["User"])] = true

				argv := strings.Fields(fmt.Sprint(sc["ExecStart"]))
				if i := slices.Index(argv, "--config"); i < 0 || i+1 == len(argv) || argv[i+1] != got.ConfigFile {
					t.Errorf("%s: ExecStart %q does not pass --config %s", name, sc["ExecStart"], got.ConfigFile)
				}
				if name == main {
					// Recording needs neither the token nor the network.
					continue
				}
				if i := slices.Index(argv, "--token-file"); i < 0 || i+1 == len(argv) || argv[i+1] != "%d/token" {
					t.Errorf("%s: ExecStart %q does not read the token credential", name, sc["ExecStart"])
				}
				creds := stringList(sc["LoadCredential"])
				if !slices.Contains(creds, "token:"+tokenPath) {
					t.Errorf("%s: LoadCredential = %q, want token:%s", name, creds, tokenPath)
				}
				hasTraces := slices.Contains(argv, "--traces-token-file")
				if hasTraces != c.tracesToken || slices.Contains(creds, "traces-token:/run/agenix/ingest") != c.tracesToken {
					t.Errorf("%s: ExecStart %q, LoadCredential %q; want a traces token credential: %v", name, sc["ExecStart"], creds, c.tracesToken)
				}
				if !slices.Contains(stringList(u.UnitConfig["ConditionPathExists"]), tokenPath) {
					t.Errorf("%s: ConditionPathExists = %v, want %s: a missing token must skip the run, not fail it", name, u.UnitConfig["ConditionPathExists"], tokenPath)
				}
			}
			if len(users) != 1 {
				t.Errorf("services run as users %v: sharing one state directory needs one user", users)
			}
			for u := range users {
				if a := got.Users[u]; a["isSystemUser"] != true || a["group"] != u || got.Groups[u] == nil {
					t.Errorf("the services' user %s is %v (group %v): want a system user of its own group", u, a, got.Groups[u])
				}
			}

			m, ok := got.Services[main]
			if !ok {
				t.Fatalf("no %s service", main)
			}
			if !slices.Contains(m.WantedBy, "multi-user.target") {
				t.Errorf("%s: wantedBy = %q; without multi-user.target no switch runs it", main, m.WantedBy)
			}
			// The switch waits for the record alone; delivery is started
			// after it, in a job of its own.
			if argv := strings.Fields(fmt.Sprint(m.ServiceConfig["ExecStart"])); len(argv) < 2 || argv[1] != "record" {
				t.Errorf("%s: ExecStart = %q, want the record mode", main, m.ServiceConfig["ExecStart"])
			}
			if m.ServiceConfig["LoadCredential"] != nil || m.ServiceConfig["PrivateNetwork"] != true || m.UnitConfig["ConditionPathExists"] != nil {
				t.Errorf("%s: LoadCredential %v, PrivateNetwork %v, ConditionPathExists %v; a record needs no token and no network",
					main, m.ServiceConfig["LoadCredential"], m.ServiceConfig["PrivateNetwork"], m.UnitConfig["ConditionPathExists"])
			}
			if !slices.Contains(stringList(m.UnitConfig["OnSuccess"]), flush+".service") {
				t.Errorf("%s: OnSuccess = %v, want %s.service: nothing would deliver after a switch", main, m.UnitConfig["OnSuccess"], flush)
			}

			f, hasFlush := got.Services[flush]
			timer, hasTimer := got.Timers[flush]
			if !hasFlush || hasTimer != c.flush {
				t.Fatalf("flush service %v, timer %v; want the service always, the timer %v", hasFlush, hasTimer, c.flush)
			}
			if argv := strings.Fields(fmt.Sprint(f.ServiceConfig["ExecStart"])); len(argv) < 2 || argv[1] != "flush" {
				t.Errorf("%s: ExecStart = %q, want the flush mode", flush, f.ServiceConfig["ExecStart"])
			}
			if len(f.WantedBy) > 0 {
				t.Errorf("%s: wantedBy = %q; a switch would wait for it", flush, f.WantedBy)
			}
			if c.flush && !slices.Contains(timer.WantedBy, "timers.target") {
				t.Errorf("%s.timer: wantedBy = %q", flush, timer.WantedBy)
			}
		})
	}
}

// buildCommand builds the command for the configuration check the module
// runs at build time.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "axiom-deploy-annotate")
	run(t, "go", "build", "-o", bin, "./cmd/axiom-deploy-annotate")
	return bin
}

// TestConfigFileNix builds the configuration file as the module does, checked
// by the real command, and reads back what it holds.
func TestConfigFileNix(t *testing.T) {
	nixtest.Require(t)
	bin := buildCommand(t)

	// Every setting the module declares, at a value other than its
	// default: the command knows each key and accepts each value.
	t.Run("checked by the command", func(t *testing.T) {
		config, err := buildConfigFile(t, "nixos", map[string]any{"settings": everySetting}, bin)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"stateDir": "/var/lib/axiom-deploy-annotation"}
		for k, v := range everySetting {
			want[k] = v
		}
		if len(config) != len(want) {
			t.Errorf("the file holds %d keys, want %d: %v", len(config), len(want), config)
		}
		for k, v := range want {
			if fmt.Sprint(config[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", k, config[k], v)
			}
		}
	})

	t.Run("defaults checked by the command", func(t *testing.T) {
		config, err := buildConfigFile(t, "nixos", nil, bin)
		if err != nil {
			t.Fatal(err)
		}
		// Null options are left out, for the command's defaults.
		for _, k := range []string{"repositoryUrl", "environment", "tracesDataset", "tracesTokenFile", "scope", "currentSystem"} {
			if v, ok := config[k]; ok {
				t.Errorf("%s written: %v", k, v)
			}
		}
	})

	t.Run("an unknown key fails the build", func(t *testing.T) {
		_, err := buildConfigFile(t, "nixos", map[string]any{"settings": map[string]any{"noSuchKey": 1}}, bin)
		if err == nil || !strings.Contains(err.Error(), "noSuchKey") {
			t.Errorf("nix-build: %v, want a failure naming noSuchKey", err)
		}
	})

	t.Run("environment and annotate", func(t *testing.T) {
		config, err := buildConfigFile(t, "nixos", map[string]any{"settings": map[string]any{"environment": "production", "annotate": false}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if config["environment"] != "production" || config["annotate"] != false {
			t.Errorf("environment = %v, annotate = %v; want production, false", config["environment"], config["annotate"])
		}
	})

	t.Run("darwin names the system profile", func(t *testing.T) {
		config, err := buildConfigFile(t, "darwin", nil, bin)
		if err != nil {
			t.Fatal(err)
		}
		if config["profile"] != "/nix/var/nix/profiles/system" {
			t.Errorf("profile = %v", config["profile"])
		}
	})
}

type daemon struct {
	Command       string         `json:"command"`
	Script        string         `json:"script"`
	Path          []string       `json:"path"`
	ServiceConfig map[string]any `json:"serviceConfig"`
}

type darwinEval struct {
	Daemons          map[string]daemon `json:"daemons"`
	PostActivation   string            `json:"postActivation"`
	Etc              map[string]string `json:"etc"`
	FailedAssertions []string          `json:"failedAssertions"`
}

// TestDarwinDaemonsNix pins how nix-darwin runs the command: from every
// activation in the background, from a boot daemon whose plist names no store
// path, and from a flush daemon every flush.interval.
func TestDarwinDaemonsNix(t *testing.T) {
	const (
		main  = "axiom-deploy-annotation"
		flush = "axiom-deploy-annotation-flush"
	)
	var got darwinEval
	evalModule(t, "darwin", map[string]any{"flush": map[string]any{"interval": 3600}}, &got)
	if len(got.FailedAssertions) > 0 {
		t.Fatalf("assertions failed: %q", got.FailedAssertions)
	}

	lines := strings.Split(strings.TrimSpace(got.PostActivation), "\n")
	if !strings.Contains(got.PostActivation, `--current-system "$systemConfig"`) || lines[len(lines)-1] != ") &" {
		t.Errorf("postActivation does not annotate $systemConfig in the background:\n%s", got.PostActivation)
	}

	for name, d := range got.Daemons {
		for _, key := range []string{"ProgramArguments", "EnvironmentVariables"} {
			if _, ok := d.ServiceConfig[key]; ok {
				t.Errorf("%s: serviceConfig.%s set; use the command and path options", name, key)
			}
		}
		if d.Command == "" || d.Script != "" {
			t.Errorf("%s: command %q, script %q; want a command", name, d.Command, d.Script)
		}
		if !slices.Contains(d.Path, "/nix/var/nix/profiles/default/bin") {
			t.Errorf("%s: path = %q lacks an installer's Nix", name, d.Path)
		}
	}

	boot, ok := got.Daemons[main]
	if !ok {
		t.Fatalf("no %s daemon", main)
	}
	if boot.ServiceConfig["RunAtLoad"] != true {
		t.Errorf("%s: RunAtLoad = %v", main, boot.ServiceConfig["RunAtLoad"])
	}
	if !strings.Contains(boot.Command, "/nix/var/nix/profiles/system/sw/bin/axiom-deploy-annotate --current-system /nix/var/nix/profiles/system") {
		t.Errorf("%s: command %q does not annotate the system profile", main, boot.Command)
	}
	if strings.Contains(boot.Command+strings.Join(boot.Path, ":"), "/nix/store/") {
		t.Errorf("%s names a store path (command %q, path %q): every rebuild would reload it", main, boot.Command, boot.Path)
	}

	f, ok := got.Daemons[flush]
	if !ok {
		t.Fatalf("no %s daemon", flush)
	}
	if f.ServiceConfig["StartInterval"] != float64(3600) || !strings.HasSuffix(f.Command, " flush") {
		t.Errorf("%s: command %q every %v s, want flush every 3600 s", flush, f.Command, f.ServiceConfig["StartInterval"])
	}

	conf, ok := got.Etc["newsyslog.d/org.nixos.axiom-deploy-annotation.conf"]
	if !ok || !strings.Contains(conf, "/var/log/axiom-deploy-annotation.log") {
		t.Errorf("no newsyslog rule for the log: %v", got.Etc)
	}

	var noFlush darwinEval
	evalModule(t, "darwin", map[string]any{"flush": map[string]any{"enable": false}}, &noFlush)
	if _, ok := noFlush.Daemons[flush]; ok {
		t.Errorf("%s with flush.enable = false", flush)
	}
}
