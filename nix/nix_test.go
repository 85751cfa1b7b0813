// Package nix_test checks the Nix files from `go test ./...`: that each one
// parses, and that nix/package.nix's vendorHash matches go.mod and go.sum.
// Both need Nix; without it they are skipped, except under CI.
package nix_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// moduleRoot is the directory holding go.mod, one up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod above nix/: %v", err)
	}
	return root
}

func TestNixFilesParse(t *testing.T) {
	nixtest.Require(t)
	root := moduleRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".nix") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flake.nix", "nix/package.nix", "nix/nixos.nix", "nix/darwin.nix", "nix/home-manager.nix"} {
		found := false
		for _, f := range files {
			found = found || f == filepath.Join(root, want)
		}
		if !found {
			t.Errorf("%s is missing", want)
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			if out, err := exec.Command("nix-instantiate", "--parse", f).CombinedOutput(); err != nil {
				t.Errorf("nix-instantiate --parse %s: %v\n%s", rel, err, out)
			}
		})
	}
}

var vendorHashLine = regexp.MustCompile(`(?m)^\s*vendorHash = "(sha256-[A-Za-z0-9+/]{43}=)";`)

// TestVendorHash makes the vendor/ folder buildGoModule makes, in a temporary
// directory rather than the module root, and compares its NAR hash with the
// one nix/package.nix declares.
func TestVendorHash(t *testing.T) {
	nixtest.Require(t)
	root := moduleRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "nix", "package.nix"))
	if err != nil {
		t.Fatal(err)
	}
	m := vendorHashLine.FindSubmatch(src)
	if m == nil {
		t.Fatalf("nix/package.nix has no line matching %s", vendorHashLine)
	}
	declared := string(m[1])

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	vendor := filepath.Join(t.TempDir(), "vendor")
	cmd := exec.Command(goTool, "mod", "vendor", "-o", vendor)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	out, err := exec.Command("nix", "hash", "path", vendor).Output()
	if err != nil {
		t.Fatalf("nix hash path: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != declared {
		t.Errorf("nix/package.nix has vendorHash = %q, but go.mod and go.sum give %q: put that in nix/package.nix", declared, got)
	}
}
