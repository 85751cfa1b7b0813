package nixinfo

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
)

// Scope is whose deploys are annotated: the system's, or a user's Home
// Manager generations.
type Scope string

// The scopes.
const (
	System      Scope = "system"
	HomeManager Scope = "home-manager"
)

// Scopes are the scopes, the default first.
var Scopes = []Scope{System, HomeManager}

// DeployScope is g's scope; what older versions recorded, without one, is
// the system's.
func (g *Generation) DeployScope() Scope {
	if g.Scope == "" {
		return System
	}
	return g.Scope
}

// ErrNotHomeManager is returned when, with the scope home-manager, the
// current generation is not a Home Manager generation.
var ErrNotHomeManager = errors.New("not a Home Manager generation")

// nixosMarker is the file every NixOS system has, which tells NixOS from
// another Linux under a Home Manager generation.
var nixosMarker = "/etc/NIXOS"

// homeGeneration is what a Home Manager generation says of itself: it
// holds activate and home-path (the packages), and hm-version, Home
// Manager's release, since 2023. It carries no revision.
func homeGeneration(store, user string) (*Generation, error) {
	if missing := notHome(store); missing != "" {
		hint := ""
		if _, err := detect(store); err == nil {
			hint = ": a NixOS or nix-darwin system, whose deploys are the scope system's"
		}
		return nil, fmt.Errorf("%s: %w (no %s there)%s", store, ErrNotHomeManager, missing, hint)
	}
	if user == "" {
		user = CurrentUser()
	}
	return &Generation{
		StorePath: store,
		Scope:     HomeManager,
		User:      user,
		Platform:  hostPlatform(),
		Label:     readTrimmed(filepath.Join(store, "hm-version")),
	}, nil
}

// notHome is what a Home Manager generation holds that store lacks; ""
// when it lacks nothing.
func notHome(store string) string {
	for _, name := range []string{"activate", "home-path"} {
		if !exists(filepath.Join(store, name)) {
			return name
		}
	}
	return ""
}

// hostPlatform is the system a Home Manager generation runs on.
func hostPlatform() Platform {
	switch _, err := os.Lstat(nixosMarker); {
	case runtime.GOOS == "darwin":
		return Darwin
	case err == nil:
		return NixOS
	}
	return Linux
}

// CurrentUser is the name of the user running: $USER, as Home Manager
// takes it, else the name of the process's user id, else the id.
func CurrentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// StateHome is the user's state directory, $XDG_STATE_HOME, else
// $HOME/.local/state; a relative path in either is ignored, as the XDG
// specification says. "" when neither gives one.
func StateHome(getenv func(string) string) string {
	if base := getenv("XDG_STATE_HOME"); filepath.IsAbs(base) {
		return base
	}
	if home := getenv("HOME"); filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state")
	}
	return ""
}

// legacyNixState is where Nix kept users' profiles and roots before 2.14.
var legacyNixState = "/nix/var/nix"

// HomePaths are where Home Manager keeps the user's profile and the link
// to the current generation, as its activation finds them: the profile in
// $XDG_STATE_HOME/nix/profiles, or in /nix/var/nix/profiles/per-user/$USER
// where only that exists (installs from before Nix 2.14); the current
// generation linked from $XDG_STATE_HOME/home-manager/gcroots/current-home,
// or from the older /nix/var/nix/gcroots/per-user/$USER/current-home where
// only that exists. Empty when there is no state home.
func HomePaths(getenv func(string) string) (profile, current string) {
	state := StateHome(getenv)
	if state == "" {
		return "", ""
	}
	profile = filepath.Join(state, "nix", "profiles", "home-manager")
	current = filepath.Join(state, "home-manager", "gcroots", "current-home")
	u := getenv("USER")
	if u == "" {
		return profile, current
	}
	if legacy := filepath.Join(legacyNixState, "profiles", "per-user", u); !isDir(filepath.Dir(profile)) && isDir(legacy) {
		profile = filepath.Join(legacy, "home-manager")
	}
	if legacy := filepath.Join(legacyNixState, "gcroots", "per-user", u, "current-home"); !exists(current) && exists(legacy) {
		current = legacy
	}
	return profile, current
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
