package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// chosenValue is a string setting remembered as chosen: a token file that
// must then be read, a path the scope's default must not replace.
type chosenValue struct {
	p   *string
	set *bool
}

func (v *chosenValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *chosenValue) Set(s string) error {
	*v.p, *v.set = s, true
	return nil
}
func (v *chosenValue) setJSON(raw json.RawMessage) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return errors.New("must be a string")
	}
	return v.Set(s)
}

// scopeDefaults puts Home Manager's profile and current generation where,
// with the scope home-manager, none was chosen: where Home Manager keeps
// them for the user running.
func (c *config) scopeDefaults(getenv func(string) string) {
	if c.Scope != string(nixinfo.HomeManager) {
		return
	}
	profile, current := nixinfo.HomePaths(getenv)
	if !c.profileSet {
		c.Profile = profile
	}
	if !c.currentSystemSet {
		c.CurrentSystem = current
	}
}

// revisionPattern is what a revision passed in must be: a commit, with
// "-dirty" when the tree was (a flake's self.rev or self.dirtyRev).
var revisionPattern = regexp.MustCompile(`^[0-9a-f]{7,64}(-dirty)?$`)

// validateScope checks the scope, the paths it needs and the revision.
func (c *config) validateScope() error {
	if !slices.Contains(nixinfo.Scopes, nixinfo.Scope(c.Scope)) {
		return fmt.Errorf("invalid scope %q: want %s or %s", c.Scope, nixinfo.System, nixinfo.HomeManager)
	}
	if c.Scope == string(nixinfo.HomeManager) && (c.Profile == "" || c.CurrentSystem == "") {
		return errors.New("scope home-manager: neither $XDG_STATE_HOME nor $HOME is an absolute path, so Home Manager's profile is unknown: set --profile and --current-system")
	}
	if c.Revision != "" && !revisionPattern.MatchString(c.Revision) {
		return fmt.Errorf("invalid revision %q: want a commit, 7 to 64 lowercase hex digits, with -dirty for a dirty tree", c.Revision)
	}
	return nil
}

// scopeAttributes say on a run of a mode that records or delivers deploys
// whose deploys they are, so that a flush of a user's Home Manager
// generations is told from the system's.
func scopeAttributes(mode, scope string) []attribute.KeyValue {
	switch vocab.Mode(mode) {
	case vocab.ModeAnnotate, vocab.ModeRecord, vocab.ModeFlush, vocab.ModeDrop:
	default:
		return nil
	}
	attrs := []attribute.KeyValue{vocab.Scope(scope).KeyValue()}
	if scope == string(nixinfo.HomeManager) {
		attrs = append(attrs, semconv.UserName(nixinfo.CurrentUser()))
	}
	return attrs
}

// thisDeploy names what a dry run speaks of.
func thisDeploy(scope string) string {
	if scope == string(nixinfo.HomeManager) {
		return "this Home Manager generation"
	}
	return "this system"
}
