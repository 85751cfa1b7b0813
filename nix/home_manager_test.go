package nix_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// hmUnit is a Home Manager unit: its INI sections.
type hmUnit map[string]map[string]any

type hmEval struct {
	Services        map[string]hmUnit         `json:"services"`
	Timers          map[string]hmUnit         `json:"timers"`
	Agents          map[string]map[string]any `json:"agents"`
	Activation      map[string]string         `json:"activation"`
	ActivationOrder []string                  `json:"activationOrder"`
	Activate        string                    `json:"activate"`
	SystemPackages  []string                  `json:"systemPackages"`
	Warnings        []string                  `json:"warnings"`
	ConfigFile      string                    `json:"configFile"`
}

const (
	hmRecord  = "axiom-deploy-annotation"
	hmDeliver = "axiom-deploy-annotation-deliver"
	hmFlush   = "axiom-deploy-annotation-flush"
)

// before says whether a runs before b in the activation script.
func (e hmEval) before(a, b string) bool {
	i, j := slices.Index(e.ActivationOrder, a), slices.Index(e.ActivationOrder, b)
	return i >= 0 && j >= 0 && i < j
}

// checkActivationOrder: the record runs once the new generation is in the
// profile (after writeBoundary), the delivery is started once Home Manager
// has loaded the new generation's units or agents.
func checkActivationOrder(t *testing.T, got hmEval, loaded string) {
	t.Helper()
	for _, o := range [][2]string{
		{"writeBoundary", hmRecord},
		{hmRecord, hmDeliver},
		{loaded, hmDeliver},
	} {
		if !got.before(o[0], o[1]) {
			t.Errorf("activation runs %q: want %s before %s", got.ActivationOrder, o[0], o[1])
		}
	}
	record := got.Activation[hmRecord]
	argv := strings.Fields(record)
	if i := slices.Index(argv, "record"); i < 1 || !strings.HasSuffix(argv[i-1], "/bin/axiom-deploy-annotate") {
		t.Errorf("%s runs %q, want the record mode", hmRecord, record)
	}
	for _, want := range []string{"--config " + got.ConfigFile, `--current-system "$newGenPath"`, "/bin/timeout ", "|| true", "[[ ! -v DRY_RUN ]]"} {
		if !strings.Contains(record, want) {
			t.Errorf("%s lacks %q:\n%s", hmRecord, want, record)
		}
	}
	if strings.Contains(record, "token") {
		t.Errorf("%s names a token: a record needs none\n%s", hmRecord, record)
	}
}

// TestHomeManagerUnitsNix pins how Home Manager on Linux runs the command:
// the activation records, a user service delivers after it and from a
// timer, and neither can fail an activation or leave a unit failed.
func TestHomeManagerUnitsNix(t *testing.T) {
	var got hmEval
	evalModule(t, "home-manager", map[string]any{
		"flush":    map[string]any{"interval": 3600},
		"settings": map[string]any{"timeout": "1m"},
	}, &got)
	if len(got.Warnings) > 0 {
		t.Errorf("warnings: %q", got.Warnings)
	}
	checkActivationOrder(t, got, "reloadSystemd")
	deliver := got.Activation[hmDeliver]
	if !strings.Contains(deliver, "--user start --no-block "+hmFlush+".service") || !strings.Contains(deliver, "|| echo") {
		t.Errorf("%s does not start %s without waiting, or may fail:\n%s", hmDeliver, hmFlush, deliver)
	}
	if len(got.Agents) > 0 {
		t.Errorf("launchd agents on Linux: %v", got.Agents)
	}

	s, ok := got.Services[hmFlush]
	if !ok {
		t.Fatalf("no %s user service: %v", hmFlush, got.Services)
	}
	sc := s["Service"]
	if argv := strings.Fields(fmt.Sprint(sc["ExecStart"])); len(argv) != 4 || argv[1] != "flush" || argv[2] != "--config" || argv[3] != got.ConfigFile {
		t.Errorf("ExecStart = %v, want the flush mode with --config %s", sc["ExecStart"], got.ConfigFile)
	}
	if sc["Type"] != "oneshot" || sc["RemainAfterExit"] != nil {
		t.Errorf("Type = %v, RemainAfterExit = %v; want a oneshot that runs again on every start", sc["Type"], sc["RemainAfterExit"])
	}
	for _, code := range []string{"1", "2", "3", "4"} {
		if !slices.Contains(exitStatuses(sc["SuccessExitStatus"]), code) {
			t.Errorf("SuccessExitStatus = %v lacks %s", sc["SuccessExitStatus"], code)
		}
	}
	if limit, ok := sc["TimeoutStartSec"].(float64); !ok || limit <= 60 {
		t.Errorf("TimeoutStartSec = %v, want above the run's own 60 s", sc["TimeoutStartSec"])
	}
	if s["Unit"]["StartLimitIntervalSec"] != float64(0) {
		t.Errorf("StartLimitIntervalSec = %v: activations and the timer in quick succession would hit the start limit", s["Unit"]["StartLimitIntervalSec"])
	}
	if s["Install"] != nil {
		t.Errorf("Install = %v: the service is started by the activation and the timer only", s["Install"])
	}
	if env := stringList(sc["Environment"]); len(env) != 1 || !strings.Contains(env[0], "/nix/var/nix/profiles/default/bin") {
		t.Errorf("Environment = %q, want a PATH with an installer's Nix", env)
	}

	timer, ok := got.Timers[hmFlush]
	if !ok {
		t.Fatalf("no %s timer", hmFlush)
	}
	if !slices.Contains(stringList(timer["Install"]["WantedBy"]), "timers.target") || timer["Timer"]["OnUnitActiveSec"] != "3600s" {
		t.Errorf("timer: %v, want one wanted by timers.target, every 3600 s", timer)
	}

	var noFlush hmEval
	evalModule(t, "home-manager", map[string]any{"flush": map[string]any{"enable": false}}, &noFlush)
	if _, ok := noFlush.Timers[hmFlush]; ok || noFlush.Services[hmFlush] == nil {
		t.Errorf("with flush.enable = false: timer %v, service %v; want the service alone", noFlush.Timers, noFlush.Services)
	}
}

// TestHomeManagerDarwinNix: on darwin a launchd agent delivers, started
// after Home Manager has loaded the agents, and every flush.interval.
func TestHomeManagerDarwinNix(t *testing.T) {
	var got hmEval
	evalModule(t, "home-manager-darwin", map[string]any{"flush": map[string]any{"interval": 3600}}, &got)
	checkActivationOrder(t, got, "setupLaunchAgents")
	if len(got.Services)+len(got.Timers) > 0 {
		t.Errorf("systemd units on darwin: %v %v", got.Services, got.Timers)
	}
	a, ok := got.Agents[hmFlush]
	if !ok {
		t.Fatalf("no %s agent: %v", hmFlush, got.Agents)
	}
	if argv := stringList(a["ProgramArguments"]); len(argv) != 4 || argv[1] != "flush" || argv[3] != got.ConfigFile {
		t.Errorf("ProgramArguments = %q, want the flush mode with --config %s", argv, got.ConfigFile)
	}
	if a["StartInterval"] != float64(3600) || a["RunAtLoad"] != nil {
		t.Errorf("StartInterval = %v, RunAtLoad = %v; want 3600 and no run at load", a["StartInterval"], a["RunAtLoad"])
	}
	label := "org.nix-community.home." + hmFlush
	if deliver := got.Activation[hmDeliver]; !strings.Contains(deliver, `/bin/launchctl kickstart "gui/$UID/`+label+`"`) || !strings.Contains(deliver, "|| echo") {
		t.Errorf("%s does not kickstart %s, or may fail:\n%s", hmDeliver, label, deliver)
	}

	var noFlush hmEval
	evalModule(t, "home-manager-darwin", map[string]any{"flush": map[string]any{"enable": false}}, &noFlush)
	if a := noFlush.Agents[hmFlush]; a == nil || a["StartInterval"] != nil {
		t.Errorf("with flush.enable = false: agent %v, want one without StartInterval", a)
	}
}

// TestHomeManagerActivationNix runs the module's activation entries as Home
// Manager runs them (bash, errexit, nounset, pipefail) with the real
// command and the configuration file checked by it, in a home laid out as
// Home Manager's: the record of a new generation, given $newGenPath once
// the profile holds it, and no user manager to start the delivery; a
// record that fails, which leaves the activation going; and a dry run,
// which runs nothing.
func TestHomeManagerActivationNix(t *testing.T) {
	nixtest.Require(t)
	bin := buildCommand(t)
	h := nixtest.NewHome(t)
	home := h.Root
	out := run(t, "nix-build", "--no-out-link", "nix/tests/eval.nix", "-A", "activate",
		"--argstr", "platform", "home-manager", "--argstr", "bin", bin,
		"--argstr", "home", home, "--argstr", "settings", settingsJSON(t, map[string]any{"settings": map[string]any{"hostname": "laptop"}}))
	activate := strings.TrimSpace(string(out))
	gen := nixtest.BuildHome(t, nixtest.Home{Label: "25.11", Salt: "activation"})[0]
	h.Boot(gen)
	noManager := "XDG_RUNTIME_DIR=" + filepath.Join(home, "no-runtime-dir")

	notGeneration := t.TempDir()
	for _, c := range []struct {
		name   string
		env    []string
		stdout string   // what it must say; none: nothing
		stderr []string // what it must say; none: nothing
	}{
		{
			name:   "a record",
			env:    []string{"newGenPath=" + gen, "USER=alice", noManager},
			stdout: "recorded \"alice@laptop hm gen 1\"\n",
			stderr: []string{hmFlush + ".service not started; what is recorded stays spooled"},
		},
		{
			name: "a failing record and no user manager",
			env:  []string{"newGenPath=" + notGeneration, "USER=alice", noManager},
			stderr: []string{
				"axiom-deploy-annotate: " + notGeneration + ": not a Home Manager generation",
				hmFlush + ".service not started; what is recorded stays spooled",
			},
		},
		{name: "a dry run", env: []string{"newGenPath=" + notGeneration, "DRY_RUN=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", "-euo", "pipefail", activate)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + home}, c.env...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("the activation failed: %v\n%s", err, stderr.String())
			}
			if stdout.String() != c.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), c.stdout)
			}
			for _, want := range c.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if len(c.stderr) == 0 && stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
	// The record is in the user's state, for the flush to deliver.
	spool, err := os.ReadDir(filepath.Join(home, ".local", "state", "axiom-deploy-annotation", "spool"))
	if err != nil || len(spool) != 1 {
		t.Errorf("spool: %v, %v; want the one generation recorded", spool, err)
	}
}

// TestHomeManagerConfigCheckedNix builds Home Manager's configuration file
// as the module does on a native build, checked by the command: the scope
// and revision it writes are the command's. A revision the option refuses,
// the command refuses too, so that the two never disagree.
func TestHomeManagerConfigCheckedNix(t *testing.T) {
	nixtest.Require(t)
	bin := buildCommand(t)
	for _, rev := range []string{"0123456", "0123456789abcdef0123456789abcdef01234567-dirty"} {
		got, err := buildConfigFile(t, "home-manager", map[string]any{"settings": map[string]any{"revision": rev}}, bin)
		if err != nil {
			t.Fatalf("revision %s: %v", rev, err)
		}
		if got["scope"] != "home-manager" || got["revision"] != rev {
			t.Errorf("revision %s: the checked file holds scope %v, revision %v", rev, got["scope"], got["revision"])
		}
	}
	for _, bad := range []string{"ABCDEF0", "012345", "0123456-DIRTY", "main"} {
		if out, err := evalError(t, "home-manager", at("settings.revision", bad)); err == nil {
			t.Errorf("the option takes revision %q:\n%s", bad, out)
		}
		out, err := exec.Command(bin, "check-config", "--scope", "home-manager", "--profile", "/p", "--current-system", "/c", "--revision", bad).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "invalid revision") {
			t.Errorf("check-config --revision %q: %v\n%s", bad, err, out)
		}
	}
}
