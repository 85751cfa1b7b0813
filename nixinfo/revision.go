package nixinfo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// versionTimeout bounds running the system's nixos-version command.
const versionTimeout = 5 * time.Second

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
	out, err := exec.CommandContext(ctx, bin, "--json").Output()
	if err != nil {
		return versionInfo{}, fmt.Errorf("%s --json: %w", bin, err)
	}
	return parseNixOSVersion(out)
}

func darwinVersion(store string) (versionInfo, error) {
	b, err := os.ReadFile(filepath.Join(store, "darwin-version.json"))
	if err != nil {
		return versionInfo{}, fmt.Errorf("darwin-version.json: %w", unwrapPathError(err))
	}
	return parseDarwinVersion(b)
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}
