package nixinfo

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/nixtest"
)

// nixDiffClosures is what nix store diff-closures says, as changes.
func nixDiffClosures(t testing.TB, before, after string) []Change {
	t.Helper()
	out := []Change{}
	for _, c := range nixtest.DiffClosures(t, before, after) {
		out = append(out, Change(c))
	}
	return out
}

func pkgs(specs ...string) []nixtest.Package {
	var ps []nixtest.Package
	for _, s := range specs {
		name, version, _ := strings.Cut(s, " ")
		ps = append(ps, nixtest.Package{Name: name, Version: version})
	}
	return ps
}

// closureQueries are the two ways of querying closures: the one
// DiffSystems takes, and the other, kept to measure against it.
var closureQueries = []struct {
	name  string
	query closuresFunc
}{{"size", closuresBySize}, {"json", closuresByReferences}}

// TestNixDiffSystemsMatchesDiffClosures deploys two generations and checks
// that DiffSystems finds what nix store diff-closures prints for them:
// versions changed, packages added and removed, two versions side by side,
// unversioned names, output names and Nix's odd splits.
func TestNixDiffSystemsMatchesDiffClosures(t *testing.T) {
	nixtest.Require(t)
	shared := []string{"etc", "same 1.0", "gcc 13.2.0-lib", "python3 3.12.2", "systemd 255.4", "systemd 255.4-man"}
	paths := nixtest.Build(t,
		nixtest.System{Host: "host", Label: "24.05.1", Packages: pkgs(append(shared,
			"hello 2.12", "curl 8.7.1", "curl 8.7.1-bin", "nano 7.2", "python3 3.11.8",
			"openssl 1.1.1w", "openssl 3.0.13", "openssl 3.0.13-dev", "zlib", "unit-a.service",
			"linux 6.6.30", "linux 6.6.30-modules", "foo-unstable", "weird _1.0", "perl5.38.2-Try-Tiny 0.31",
			"glibc 2.39-52", "glibc 2.39-52-bin")...)},
		nixtest.System{Host: "host", Label: "24.05.2", Packages: pkgs(append(shared,
			"hello 2.12.1", "curl 8.6.0", "curl 8.6.0-bin", "htop 3.3.0", "python3 3.11.9",
			"openssl 3.0.14", "openssl 3.0.14-dev", "zlib 1.3", "unit-b.service",
			"linux 6.6.31", "linux 6.6.31-modules", "foo 1.0", "weird _1.1", "perl5.38.2-Try-Tiny 0.32",
			"glibc 2.39-52", "same 1.0-dev")...)},
	)
	m := nixtest.NewMachine(t)
	m.Switch(paths[0])
	m.Switch(paths[1])
	profiles := filepath.Dir(m.Profile())
	before, after := filepath.Join(profiles, "system-1-link"), filepath.Join(profiles, "system-2-link")

	for _, q := range closureQueries {
		t.Run(q.name, func(t *testing.T) {
			diff := func(before, after string) (*Diff, error) {
				return diffSystems(context.Background(), before, after, q.query)
			}
			d, err := diff(before, after)
			if err != nil {
				t.Fatal(err)
			}
			want := []Change{
				{"curl", []string{"8.7.1"}, []string{"8.6.0"}},
				{"foo", []string{""}, []string{"1.0"}},
				{"hello", []string{"2.12"}, []string{"2.12.1"}},
				{"htop", []string{}, []string{"3.3.0"}},
				{"linux", []string{"6.6.30"}, []string{"6.6.31"}},
				{"nano", []string{"7.2"}, []string{}},
				{"nixos-system-host", []string{"24.05.1"}, []string{"24.05.2"}},
				{"openssl", []string{"1.1.1w", "3.0.13"}, []string{"3.0.14"}},
				{"perl5.38.2-Try-Tiny", []string{"0.31"}, []string{"0.32"}},
				{"python3", []string{"3.11.8"}, []string{"3.11.9"}},
				{"unit-a.service", []string{""}, []string{}},
				{"unit-b.service", []string{}, []string{""}},
				{"weird", []string{"_1.0"}, []string{"_1.1"}},
				{"zlib", []string{""}, []string{"1.3"}},
			}
			if !equalChanges(d.Changes, want) {
				t.Errorf("DiffSystems =\n%s\nwant\n%s", showChanges(d.Changes), showChanges(want))
			}
			if nix := nixDiffClosures(t, before, after); !equalChanges(d.Changes, nix) {
				t.Errorf("DiffSystems =\n%s\nnix store diff-closures =\n%s", showChanges(d.Changes), showChanges(nix))
			}
			if d.SizeBefore != closureSize(t, paths[0]) || d.SizeAfter != closureSize(t, paths[1]) {
				t.Errorf("sizes %d, %d; nix path-info -S gives %d, %d", d.SizeBefore, d.SizeAfter, closureSize(t, paths[0]), closureSize(t, paths[1]))
			}

			// Back again: the same changes the other way round.
			back, err := diff(after, before)
			if err != nil {
				t.Fatal(err)
			}
			if nix := nixDiffClosures(t, after, before); !equalChanges(back.Changes, nix) {
				t.Errorf("DiffSystems back =\n%s\nnix store diff-closures =\n%s", showChanges(back.Changes), showChanges(nix))
			}
			if len(back.Changes) != len(want) {
				t.Errorf("%d changes back, want %d", len(back.Changes), len(want))
			}

			same, err := diff(after, paths[1])
			if err != nil || len(same.Changes) != 0 || same.Changes == nil {
				t.Errorf("DiffSystems of a system with itself = %+v, %v; want no changes", same, err)
			}
		})
	}
}

// closureSize is what nix path-info --closure-size says.
func closureSize(t testing.TB, path string) int64 {
	t.Helper()
	out, err := exec.Command("nix", "path-info", "--closure-size", "--", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("nix path-info --closure-size printed %q", out)
	}
	return n
}

// TestNixDiffSystemsBigPair compares DiffSystems, and the other way of
// querying closures, with nix store diff-closures on the benchmark's pairs
// of 3000-path systems.
func TestNixDiffSystemsBigPair(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pairs of 3000-path systems")
	}
	for _, shape := range []string{"realistic", "flat"} {
		before, after := bigPair(t, shape)
		nix := nixDiffClosures(t, before, after)
		sizeBefore, sizeAfter := closureSize(t, before), closureSize(t, after)
		for _, q := range closureQueries {
			t.Run(shape+"/"+q.name, func(t *testing.T) {
				d, err := diffSystems(context.Background(), before, after, q.query)
				if err != nil {
					t.Fatal(err)
				}
				if !equalChanges(d.Changes, nix) {
					t.Errorf("DiffSystems and nix store diff-closures differ:\n%s\n---\n%s", showChanges(d.Changes), showChanges(nix))
				}
				kinds := map[ChangeKind]int{}
				for _, c := range d.Changes {
					kinds[c.Kind()]++
				}
				t.Logf("%d changes: %v", len(d.Changes), kinds)
				for _, k := range []ChangeKind{Upgrade, Downgrade, Added, Removed, Changed} {
					if kinds[k] == 0 {
						t.Errorf("no %v among the changes", k)
					}
				}
				if d.SizeBefore != sizeBefore || d.SizeAfter != sizeAfter {
					t.Errorf("sizes %d, %d; nix path-info -S gives %d, %d", d.SizeBefore, d.SizeAfter, sizeBefore, sizeAfter)
				}
			})
		}
	}
}

func TestNixDiffSystemsFirstDeploy(t *testing.T) {
	d, err := DiffSystems(context.Background(), "", "/nix/store/00000000000000000000000000000000-any")
	if err != nil || d.Changes == nil || len(d.Changes) != 0 {
		t.Errorf("DiffSystems without a system before = %+v, %v; want no changes", d, err)
	}
}

func TestNixDiffSystemsErrors(t *testing.T) {
	nixtest.Require(t)
	paths := nixtest.Build(t, nixtest.System{Host: "err", Packages: pkgs("hello 2.12")})
	missing := "/nix/store/00000000000000000000000000000000-missing"
	_, err := DiffSystems(context.Background(), missing, paths[0])
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), missing) {
		t.Errorf("DiffSystems from a missing path: %v; want a one-line error naming it", err)
	}
	t.Logf("missing path: %v", err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DiffSystems(ctx, paths[0], paths[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("DiffSystems with a cancelled context: %v; want context.Canceled", err)
	}
}

// TestNixDiffSystemsNotStorePaths gives DiffSystems systems that are no
// store paths: each is an error that names it, and never reaches nix.
func TestNixDiffSystemsNotStorePaths(t *testing.T) {
	nixtest.Require(t)
	paths := nixtest.Build(t, nixtest.System{Host: "sp", Packages: pkgs("hello 2.12")})
	for _, bad := range []string{"--help", "--version", "/etc", "/nix/store/../etc", paths[0] + "/sw", "github:NixOS/nixpkgs", "."} {
		for _, pair := range [][2]string{{bad, paths[0]}, {paths[0], bad}} {
			_, err := DiffSystems(context.Background(), pair[0], pair[1])
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), strconv.Quote(bad)+" is neither a store path") {
				t.Errorf("DiffSystems(%q, %q) = %v; want an error that %q is no store path", pair[0], pair[1], err, bad)
			}
		}
	}
}

// TestNixPathInfoEndsOptions checks that a path given to nix path-info is
// never taken for an option, whatever it looks like.
func TestNixPathInfoEndsOptions(t *testing.T) {
	nixtest.Require(t)
	for _, arg := range []string{"--version", "--help"} {
		out, err := pathInfo(context.Background(), []string{"--recursive", "--size"}, arg)
		if err == nil {
			t.Errorf("nix path-info %s succeeded, printing %q; want it taken for a path and refused", arg, firstLine(string(out)))
		}
	}
}
