// Package nixinfo finds out what is deployed on a NixOS or nix-darwin machine,
// or in a user's Home Manager profile: the running system's (or
// generation's) store path, its generation, label and configuration
// revision, the host, and what was deployed before it.
package nixinfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Platform is the kind of system: NixOS or nix-darwin; under a Home
// Manager generation, the system it runs on, which may be another Linux.
type Platform string

// The platforms nixinfo recognises.
const (
	NixOS  Platform = "nixos"
	Darwin Platform = "darwin"
	// Linux is a Linux other than NixOS, where only Home Manager runs.
	Linux Platform = "linux"
)

// ErrNotNixSystem is returned when the current system is neither a NixOS nor
// a nix-darwin system.
var ErrNotNixSystem = errors.New("not a NixOS or nix-darwin system")

// Options say where to look.
type Options struct {
	// CurrentSystem is the link to the running system, /run/current-system.
	CurrentSystem string
	// Profile is the system profile, /nix/var/nix/profiles/system; its
	// generations are the system-N-link entries beside it.
	Profile string
	// Hostname is the host's name; empty means the short host name.
	Hostname string
	// Previous is the store path of the system deployed before, as recorded
	// by an earlier run; empty means the generation before the current one.
	// Anything but a store path is passed over with a warning.
	Previous string
	// Scope is whose deploys these are: the system's (System, or empty),
	// or a user's Home Manager generations (HomeManager).
	Scope Scope
	// Revision is the configuration's revision, a commit with "-dirty" when
	// the tree was: taken when the generation carries none, as a Home
	// Manager generation never does.
	Revision string
	// CommitTime is when the configuration's revision was committed (a
	// flake's self.lastModified); nil when unknown.
	CommitTime *time.Time
	// User is whose Home Manager generation it is; empty means the user
	// running (CurrentUser).
	User string
	// Log receives warnings about what could not be read; nil discards them.
	Log *slog.Logger
}

// Generation is what is deployed.
type Generation struct {
	// Number is the generation number, nil when no generation of the profile
	// is the current system (after nixos-rebuild test, or a boot-menu pick).
	Number    *int   `json:"number"`
	StorePath string `json:"storePath"`
	Hostname  string `json:"hostname"`
	// Revision is the configuration's revision without a "-dirty" suffix;
	// Dirty says whether it had one.
	Revision string `json:"revision"`
	Dirty    bool   `json:"dirty"`
	Label    string `json:"label"`
	// Previous is the store path of the system deployed before, empty when
	// none is known.
	Previous string   `json:"previous"`
	Platform Platform `json:"platform"`
	// NixpkgsRevision is the nixpkgs revision, where the system records it.
	NixpkgsRevision string `json:"nixpkgsRevision,omitempty"`
	// Rollback says that the profile has a newer generation than this one:
	// a rollback or a boot into an older generation. Recording also sets
	// it (and Number, as it was) for a system deployed before that is not
	// the newest recorded, whatever the profile holds.
	Rollback bool `json:"rollback"`
	// CommitTime is when the configuration's revision was committed, as
	// the commitTime setting says; nil when unknown, and in what older
	// versions recorded.
	CommitTime *time.Time `json:"commitTime,omitempty"`
	// Scope says whose deploy it is: System, or HomeManager (a user's Home
	// Manager generation). Empty in what older versions recorded: System.
	Scope Scope `json:"scope,omitempty"`
	// User is the user whose Home Manager generation it is.
	User string `json:"user,omitempty"`
}

// Discover finds out what is deployed: the system, or with
// Options.Scope HomeManager a user's Home Manager generation.
func Discover(ctx context.Context, opts Options) (*Generation, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := filepath.EvalSymlinks(opts.CurrentSystem)
	if err != nil {
		what := "current system"
		if opts.Scope == HomeManager {
			what = "current Home Manager generation"
		}
		return nil, fmt.Errorf("%s %s: %w", what, opts.CurrentSystem, unwrapPathError(err))
	}
	var g *Generation
	if opts.Scope == HomeManager {
		g, err = homeGeneration(store, opts.User)
	} else {
		g, err = systemGeneration(ctx, store, log)
	}
	if err != nil {
		return nil, err
	}
	if g.Hostname = opts.Hostname; g.Hostname == "" {
		if g.Hostname, err = ShortHostname(); err != nil {
			return nil, err
		}
	}
	if g.Revision == "" && opts.Revision != "" {
		g.Revision, g.Dirty = strings.CutSuffix(opts.Revision, "-dirty")
	}
	if opts.CommitTime != nil {
		t := opts.CommitTime.UTC()
		g.CommitTime = &t
	}
	place(g, opts, log)
	return g, nil
}

// systemGeneration is what a NixOS or nix-darwin system says of itself.
func systemGeneration(ctx context.Context, store string, log *slog.Logger) (*Generation, error) {
	platform, err := detect(store)
	if err != nil {
		if notHome(store) == "" {
			return nil, fmt.Errorf("%s: %w: a Home Manager generation, whose deploys are the scope home-manager's", store, err)
		}
		return nil, fmt.Errorf("%s: %w", store, err)
	}
	g := &Generation{StorePath: store, Platform: platform, Scope: System}
	var info versionInfo
	switch platform {
	case NixOS:
		info, err = nixosVersion(ctx, store)
		if g.Label = info.Label; g.Label == "" {
			g.Label = readTrimmed(filepath.Join(store, "nixos-version"))
		}
	case Darwin:
		info, err = darwinVersion(store)
		if g.Label = info.Label; g.Label == "" {
			g.Label = readTrimmed(filepath.Join(store, "darwin-version"))
		}
	}
	if err != nil {
		log.Warn("revision unknown", "err", err)
	}
	g.Revision, g.Dirty = strings.CutSuffix(info.Revision, "-dirty")
	g.NixpkgsRevision = info.NixpkgsRevision
	return g, nil
}

// place finds the generation's number among the profile's, whether it is
// a rollback, and what was deployed before it.
func place(g *Generation, opts Options, log *slog.Logger) {
	store := g.StorePath
	gens := generations(opts.Profile, log)
	for i := len(gens) - 1; i >= 0; i-- {
		if gens[i].path == store {
			n := gens[i].number
			g.Number = &n
			g.Rollback = i < len(gens)-1
			break
		}
	}
	previous := opts.Previous
	if previous != "" {
		if err := checkStorePath(previous); err != nil {
			log.Warn("recorded previous system passed over, taking the generation before", "err", err)
			previous = ""
		}
	}
	switch {
	case previous != "" && previous != store:
		g.Previous = previous
	case g.Number != nil:
		for i := len(gens) - 1; i >= 0; i-- {
			if gens[i].number < *g.Number && gens[i].path != store {
				g.Previous = gens[i].path
				break
			}
		}
	default:
		// Not a generation (nixos-rebuild test): the system before is the
		// one the profile chose.
		if p, err := filepath.EvalSymlinks(opts.Profile); err == nil && p != store {
			g.Previous = p
		}
	}
}

// ShortHostname is the host name up to its first dot.
func ShortHostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w", err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h, nil
}

func detect(store string) (Platform, error) {
	exists := func(name string) bool {
		_, err := os.Lstat(filepath.Join(store, name))
		return err == nil
	}
	switch {
	case exists("darwin-version.json") || exists("darwin-version"):
		return Darwin, nil
	case exists("nixos-version") || exists("sw/bin/nixos-version"):
		return NixOS, nil
	}
	return "", fmt.Errorf("%w (neither nixos-version nor darwin-version is there)", ErrNotNixSystem)
}

type generation struct {
	number int
	path   string
}

// generations lists the profile's system-N-link entries that resolve to a
// store path, oldest first. Dangling or looping links are passed over with a
// warning.
func generations(profile string, log *slog.Logger) []generation {
	dir, base := filepath.Split(profile)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("profile generations unreadable", "dir", dir, "err", unwrapPathError(err))
		return nil
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `-([0-9]+)-link$`)
	var gens []generation
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		p, err := filepath.EvalSymlinks(filepath.Join(dir, e.Name()))
		if err != nil {
			log.Warn("generation link passed over", "link", e.Name(), "err", unwrapPathError(err))
			continue
		}
		gens = append(gens, generation{n, p})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].number < gens[j].number })
	return gens
}

// unwrapPathError drops the *fs.PathError wrapper, whose path the caller
// already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
