package nix_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The units nix/tests/eval.nix evaluates, written as NixOS writes them
// (nixos/lib/systemd-lib.nix and nixos/modules/system/boot/systemd.nix):
// a [Unit] section from description, the dependency lists, the start limit
// and unitConfig; a [Service] section with one Environment="K=V" line a
// variable (PATH made of path) and serviceConfig, a key a line, lists as
// repeated keys; a [Timer] section from timerConfig; and a <target>.wants
// link for each wantedBy instead of an [Install] section.

// unitFile is a unit's name and text.
type unitFile struct{ name, text string }

// nixosUnitFiles renders the services and timers of an evaluation, and
// lists the .wants links: target → units.
func nixosUnitFiles(t *testing.T, services, timers map[string]map[string]any) ([]unitFile, map[string][]string) {
	t.Helper()
	var files []unitFile
	wants := map[string][]string{}
	render := func(name, kind string, def map[string]any) {
		for _, target := range stringList(def["wantedBy"]) {
			wants[target] = append(wants[target], name)
		}
		files = append(files, unitFile{name, unitText(t, name, kind, def)})
	}
	for _, n := range slices.Sorted(maps.Keys(services)) {
		render(n+".service", "Service", services[n])
	}
	for _, n := range slices.Sorted(maps.Keys(timers)) {
		render(n+".timer", "Timer", timers[n])
	}
	return files, wants
}

// defaultPath stands for the packages NixOS puts on every service's PATH
// (coreutils, findutils, grep, sed, systemd): Debian's own, in the
// container.
var defaultPath = []string{"/usr", ""}

func unitText(t *testing.T, name, kind string, def map[string]any) string {
	t.Helper()
	unit := map[string]any{}
	if v, ok := def["unitConfig"].(map[string]any); ok {
		maps.Copy(unit, v)
	}
	var env map[string]any
	var section map[string]any
	for k, v := range def {
		switch k {
		case "description":
			unit["Description"] = v
		case "wants", "after", "before", "requires":
			unit[strings.ToUpper(k[:1])+k[1:]] = strings.Join(stringList(v), " ")
		case "startLimitIntervalSec":
			unit["StartLimitIntervalSec"] = v
		case "environment":
			env, _ = v.(map[string]any)
		case "serviceConfig", "timerConfig":
			section, _ = v.(map[string]any)
		case "unitConfig", "wantedBy", "path":
		default:
			t.Fatalf("%s: %s is not rendered here; teach nixosUnitFiles how NixOS writes it", name, k)
		}
	}
	var b strings.Builder
	b.WriteString("[Unit]\n")
	writeSection(&b, unit)
	fmt.Fprintf(&b, "\n[%s]\n", kind)
	if kind == "Service" {
		if env == nil {
			env = map[string]any{}
		}
		env["PATH"] = searchPath(stringList(def["path"]))
		for _, k := range slices.Sorted(maps.Keys(env)) {
			q, _ := json.Marshal(fmt.Sprintf("%s=%v", k, env[k]))
			fmt.Fprintf(&b, "Environment=%s\n", q)
		}
	}
	writeSection(&b, section)
	return b.String()
}

// searchPath is NixOS's PATH of a service: each package's bin, then each
// one's sbin.
func searchPath(pkgs []string) string {
	all := append(slices.Clone(pkgs), defaultPath...)
	var dirs []string
	for _, sub := range []string{"/bin", "/sbin"} {
		for _, p := range all {
			dirs = append(dirs, p+sub)
		}
	}
	return strings.Join(dirs, ":")
}

// writeSection writes a key a line, sorted, lists as repeated keys, as
// attrsToSection does.
func writeSection(b *strings.Builder, section map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(section)) {
		values, ok := section[k].([]any)
		if !ok {
			values = []any{section[k]}
		}
		for _, v := range values {
			fmt.Fprintf(b, "%s=%s\n", k, unitValue(v))
		}
	}
}

func unitValue(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// nixosUsers stands for NixOS's users module, which makes the accounts
// before any service starts: a sysusers.d line a system user (its group of
// the same name, as the module test checks) and a unit that runs
// systemd-sysusers early in the boot.
func nixosUsers(t *testing.T, users map[string]map[string]any) (sysusers string, unit unitFile) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(users)) {
		u := users[name]
		if u["isSystemUser"] != true || u["group"] != name {
			t.Fatalf("user %s: %v; the stand-in makes system users with a group of their name only", name, u)
		}
		fmt.Fprintf(&b, "u %s - %q\n", name, fmt.Sprint(u["description"]))
	}
	return b.String(), unitFile{"nixos-users.service", `[Unit]
Description=The users NixOS's activation makes
DefaultDependencies=no
Before=sysinit.target
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=systemd-sysusers /usr/local/lib/sysusers.d/nixos.conf
`}
}
