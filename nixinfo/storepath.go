package nixinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// storeDir is the Nix store directory as Nix finds it: $NIX_STORE_DIR, else
// $NIX_STORE, else /nix/store. A path outside it is no store path to Nix.
func storeDir() string {
	for _, v := range []string{"NIX_STORE_DIR", "NIX_STORE"} {
		if d := os.Getenv(v); d != "" && filepath.IsAbs(d) {
			return filepath.Clean(d)
		}
	}
	return "/nix/store"
}

// hashLen is the length of a store path's hash part, in Nix's base-32.
const hashLen = 32

// maxNameLen is the longest name Nix allows a store path.
const maxNameLen = 211

// checkStorePath returns an error unless path names a store object: an
// entry directly in the store directory named HASH-NAME, as Nix's StorePath
// requires. Only such a path is passed to nix, so that a value read from a
// file can be neither an option nor a path elsewhere (a flake, /etc).
func checkStorePath(path string) error {
	return checkStorePathIn(storeDir(), path)
}

// checkStorePathIn is checkStorePath with the store directory given.
func checkStorePathIn(dir, path string) error {
	base, ok := strings.CutPrefix(path, dir)
	if ok {
		base, ok = strings.CutPrefix(base, "/")
	}
	if !ok || !validBaseName(base) {
		return fmt.Errorf("%q is not a store path (%s/HASH-NAME)", path, dir)
	}
	return nil
}

// validBaseName says whether s is HASH-NAME: 32 characters of Nix's base-32
// (digits and lower-case letters but e, o, u and t), a dash, and a name of
// at most 211 letters, digits and +-._?= that is not "." or "..", nor
// starts with "." or ".." followed by a dash.
func validBaseName(s string) bool {
	if len(s) < hashLen+2 || s[hashLen] != '-' {
		return false
	}
	for i := 0; i < hashLen; i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z') || c == 'e' || c == 'o' || c == 'u' || c == 't' {
			return false
		}
	}
	name := s[hashLen+1:]
	if len(name) > maxNameLen {
		return false
	}
	if first, _, _ := strings.Cut(name, "-"); first == "." || first == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChars[name[i]] {
			return false
		}
	}
	return true
}

// nameChars are the characters a store path's name may hold.
var nameChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isDigit(byte(c)) || isLetter(byte(c)) || strings.IndexByte("+-._?=", byte(c)) >= 0
	}
	return t
}()

// resolveStorePath returns the store path that path is or links to, as
// DiffSystems is given links such as /run/current-system. A store path is
// taken as it is: it may be gone already, and a store object may itself be
// a link.
func resolveStorePath(path string) (string, error) {
	if checkStorePath(path) == nil {
		return path, nil
	}
	var why string
	if filepath.IsAbs(path) {
		p, err := filepath.EvalSymlinks(path)
		if err == nil && checkStorePath(p) == nil {
			return p, nil
		}
		if err != nil {
			why = ": " + unwrapPathError(err).Error()
		}
	}
	return "", fmt.Errorf("%q is neither a store path (%s/HASH-NAME) nor a link to one%s", path, storeDir(), why)
}
