package nixinfo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// versionTimeout bounds running the system's nixos-version command, and
// maxVersion what is read of its output and of the version files: a few
// hundred bytes each.
const (
	versionTimeout = 5 * time.Second
	maxVersion     = 64 << 10
)

// versionInfo is what a system records of its version.
type versionInfo struct {
	Label           string
	Revision        string
	NixpkgsRevision string
}

// parseNixOSVersion reads the output of nixos-version --json.
func parseNixOSVersion(b []byte) (versionInfo, error) {
	var v struct {
		NixosVersion          string `json:"nixosVersion"`
		NixpkgsRevision       string `json:"nixpkgsRevision"`
		ConfigurationRevision string `json:"configurationRevision"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return versionInfo{}, fmt.Errorf("nixos-version --json: %w", err)
	}
	return versionInfo{v.NixosVersion, v.ConfigurationRevision, v.NixpkgsRevision}, nil
}

// parseDarwinVersion reads darwin-version.json.
func parseDarwinVersion(b []byte) (versionInfo, error) {
	var v struct {
		DarwinLabel           string `json:"darwinLabel"`
		NixpkgsRevision       string `json:"nixpkgsRevision"`
		ConfigurationRevision string `json:"configurationRevision"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return versionInfo{}, fmt.Errorf("darwin-version.json: %w", err)
	}
	return versionInfo{v.DarwinLabel, v.ConfigurationRevision, v.NixpkgsRevision}, nil
}

func nixosVersion(ctx context.Context, store string) (versionInfo, error) {
	bin := filepath.Join(store, "sw", "bin", "nixos-version")
	if _, err := os.Stat(bin); err != nil {
		return versionInfo{}, fmt.Errorf("no nixos-version in the system: %w", unwrapPathError(err))
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	// In a process group of its own, so that what it leaves running is
	// killed with it, and bounded in what it prints.
	out, err := bounded.Output(bounded.Command(ctx, bin, "--json"), maxVersion)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("did not end in time: %w", ctx.Err())
		}
		return versionInfo{}, fmt.Errorf("%s --json: %w", bin, err)
	}
	return parseNixOSVersion(out)
}

func darwinVersion(store string) (versionInfo, error) {
	b, err := bounded.ReadRegular(filepath.Join(store, "darwin-version.json"), maxVersion)
	if err != nil {
		return versionInfo{}, fmt.Errorf("darwin-version.json: %w", unwrapPathError(err))
	}
	return parseDarwinVersion(b)
}

// readTrimmed is the text of a small regular file, "" when there is none.
func readTrimmed(path string) string {
	b, err := bounded.ReadRegular(path, 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
