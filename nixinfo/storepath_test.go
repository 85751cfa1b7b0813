package nixinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hash = "0123456789abcdfghijklmnpqrsvwxyz"

func TestCheckStorePath(t *testing.T) {
	for _, ok := range []string{
		"/nix/store/" + hash + "-nixos-system-web1-24.05",
		"/nix/store/" + hash + "-a",
		"/nix/store/" + hash + "-.a",
		"/nix/store/" + hash + "-..a",
		"/nix/store/" + hash + "-a+b-_c.d?e=f",
		"/nix/store/" + hash + "-" + strings.Repeat("x", 211),
	} {
		if err := checkStorePath(ok); err != nil {
			t.Errorf("checkStorePath(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"--help",
		"-",
		"/etc",
		"/nix/store",
		"/nix/store/",
		"/nix/store/../etc",
		"/nix/store/" + hash + "-a/../../../etc",
		"/nix/store/" + hash + "-a/bin",
		"/nix/store/" + hash + "-a/",
		"/nix/store//" + hash + "-a",
		"/nix/store/./" + hash + "-a",
		"nix/store/" + hash + "-a",
		"/nix/store/" + hash,
		"/nix/store/" + hash + "-",
		"/nix/store/" + hash[:31] + "-a",
		"/nix/store/" + hash + "a-a",
		"/nix/store/" + strings.Replace(hash, "0", "e", 1) + "-a",
		"/nix/store/" + strings.Replace(hash, "0", "A", 1) + "-a",
		"/nix/store/" + hash + "-.",
		"/nix/store/" + hash + "-..",
		"/nix/store/" + hash + "-.-a",
		"/nix/store/" + hash + "-..-a",
		"/nix/store/" + hash + "-a b",
		"/nix/store/" + hash + "-a\nb",
		"/nix/store/" + hash + "-a:b",
		"/nix/store/" + hash + "-" + strings.Repeat("x", 212),
		"/nix/storex/" + hash + "-a",
		"/other/store/" + hash + "-a",
		"github:NixOS/nixpkgs",
	} {
		err := checkStorePath(bad)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not a store path") {
			t.Errorf("checkStorePath(%q) = %v, want a one-line error", bad, err)
		}
	}
}

func TestStoreDirFromEnvironment(t *testing.T) {
	t.Setenv("NIX_STORE_DIR", "")
	t.Setenv("NIX_STORE", "")
	if d := storeDir(); d != "/nix/store" {
		t.Errorf("storeDir() = %q, want /nix/store", d)
	}
	t.Setenv("NIX_STORE", "/gnu/store/")
	if d := storeDir(); d != "/gnu/store" {
		t.Errorf("with NIX_STORE: storeDir() = %q, want /gnu/store", d)
	}
	t.Setenv("NIX_STORE_DIR", "/opt//nix/store")
	if d := storeDir(); d != "/opt/nix/store" {
		t.Errorf("with NIX_STORE_DIR: storeDir() = %q, want /opt/nix/store", d)
	}
	if err := checkStorePath("/opt/nix/store/" + hash + "-a"); err != nil {
		t.Errorf("a path in $NIX_STORE_DIR: %v", err)
	}
	err := checkStorePath("/nix/store/" + hash + "-a")
	if err == nil || !strings.Contains(err.Error(), "/opt/nix/store/HASH-NAME") {
		t.Errorf("a path in /nix/store with NIX_STORE_DIR elsewhere: %v; want an error naming the store", err)
	}
	t.Setenv("NIX_STORE_DIR", "relative")
	if d := storeDir(); d != "/gnu/store" {
		t.Errorf("with a relative NIX_STORE_DIR: storeDir() = %q, want $NIX_STORE", d)
	}
}

func TestResolveStorePath(t *testing.T) {
	store := t.TempDir()
	t.Setenv("NIX_STORE_DIR", store)
	sys := filepath.Join(store, hash+"-nixos-system")
	if err := os.MkdirAll(filepath.Join(sys, "sw"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := filepath.Join(store, strings.Replace(hash, "0", "1", 1)+"-gone")
	for in, want := range map[string]string{
		sys:                                      sys,
		link("system-1-link", sys):               sys,
		link("current", "system-1-link"):         sys,
		gone:                                     gone, // collected: nix says so
		store + "/../etc":                        "",
		sys + "/sw/..":                           sys, // what reaches nix is the store path
		link("etc", "/etc"):                      "",
		link("dangling", gone):                   "",
		link("inside", filepath.Join(sys, "sw")): "",
		link("slash", sys) + "/":                 sys,
		"--help":                                 "",
		"system-1-link":                          "",
		"/etc":                                   "",
	} {
		got, err := resolveStorePath(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("resolveStorePath(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "store path")) {
			t.Errorf("resolveStorePath(%q) error %q, want one line saying what a store path is", in, err)
		}
	}
}

func FuzzCheckStorePath(f *testing.F) {
	for _, s := range []string{"/nix/store/" + hash + "-a", "/nix/store/../etc", "--help", "/nix/store/" + hash + "-..", "/nix/store/" + hash + "-a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if checkStorePath(path) != nil {
			return
		}
		base, ok := strings.CutPrefix(path, storeDir()+"/")
		if !ok || filepath.Clean(path) != path || strings.Contains(base, "/") || base == "." || base == ".." {
			t.Fatalf("checkStorePath(%q) accepted a path that is not an entry of %s", path, storeDir())
		}
		if name := base[hashLen+1:]; strings.ContainsAny(name, " \t\n\r\x00") || name == "." || name == ".." {
			t.Fatalf("checkStorePath(%q) accepted the name %q", path, name)
		}
	})
}
