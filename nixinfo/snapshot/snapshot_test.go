package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func storePath(hash byte, name string) string {
	return "/nix/store/" + strings.Repeat(string(hash), 32) + "-" + name
}

var (
	sysA = storePath('a', "nixos-system-web-24.05")
	sysB = storePath('b', "nixos-system-web-24.11")
)

func sample(system string) *Closure {
	return &Closure{System: system, Paths: []Path{
		{Path: system, Name: "nixos-system-web", Version: "24.05", NarSize: 1000, References: []int{1, 2}},
		{Path: storePath('c', "openssl-3.0.13-dev"), Name: "openssl", Version: "3.0.13", NarSize: 20, References: []int{2}},
		{Path: storePath('d', "unit-dbus.service"), Name: "unit-dbus.service", Version: "", NarSize: 3},
	}}
}

func TestSaveLoad(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "snapshots"))
	if c, err := d.Load(sysA); c != nil || err != nil {
		t.Fatalf("Load before any Save = %v, %v; want a miss", c, err)
	}
	want := sample(sysA)
	if err := d.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load(sysA)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
	if c, err := d.Load(sysB); c != nil || err != nil {
		t.Errorf("Load of another system = %v, %v; want a miss", c, err)
	}
	fi, err := os.Stat(d.path)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory %v, %v; want mode 0700", fi, err)
	}
}

func TestSaveRefuses(t *testing.T) {
	d := Open(t.TempDir())
	for name, c := range map[string]*Closure{
		"no paths":          {System: sysA},
		"system not first":  {System: sysA, Paths: sample(sysB).Paths},
		"reference outside": {System: sysA, Paths: []Path{{Path: sysA, References: []int{1}}}},
		"tab in a name":     {System: sysA, Paths: []Path{{Path: sysA, Name: "a\tb"}}},
		"not a store path":  {System: "relative", Paths: []Path{{Path: "relative"}}},
	} {
		if err := d.Save(c); err == nil {
			t.Errorf("%s: Save succeeded", name)
		}
	}
}

// TestLoadMisses checks that whatever is not a snapshot this version wrote
// of the system asked for is an error (a miss to callers), never a
// closure: corrupt, cut short, another version, another system's, or
// broken in a way the checksum does not catch.
func TestLoadMisses(t *testing.T) {
	good, err := format(sample(sysA))
	if err != nil {
		t.Fatal(err)
	}
	// body is the good file without its checksum; resum gives a changed
	// body a valid checksum, so that only the checks of the body itself
	// can refuse it.
	body := string(good[:bytes.LastIndex(good, []byte("sha256 "))])
	resum := func(old, new string) []byte {
		b := strings.Replace(body, old, new, 1)
		sum := sha256.Sum256([]byte(b))
		return []byte(b + "sha256 " + hex.EncodeToString(sum[:]) + "\n")
	}
	if c, err := parse(resum("", "")); err != nil || c.System != sysA {
		t.Fatalf("the good body with its checksum again: %v", err)
	}
	other, _ := format(sample(sysB))
	for name, b := range map[string][]byte{
		"empty":            {},
		"cut short":        good[:len(good)/2],
		"a byte changed":   bytes.Replace(good, []byte("openssl"), []byte("openssm"), 1),
		"no final newline": good[:len(good)-1],
		"other version":    resum("snapshot 1", "snapshot 2"),
		"another system":   other,
		"bad reference":    resum("\t1,2\n", "\t1,7\n"),
		"fewer paths":      resum("paths 3", "paths 2"),
		"more paths":       resum("paths 3", "paths 4"),
		"bad size":         resum("\t1000\t", "\t-1\t"),
		"first not system": resum("system "+sysA, "system "+sysB),
		"json":             []byte(`{"system":"` + sysA + `"}` + "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, strings.Repeat("a", 32)+".closure"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Open(dir).Load(sysA)
			if c != nil || err == nil || strings.Contains(err.Error(), "\n") {
				t.Errorf("Load = %v, %v; want a one-line error", c, err)
			}
		})
	}
}

func TestLinksAndOddFiles(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	d := Open(elsewhere)
	if err := d.Save(sample(sysA)); err != nil {
		t.Fatal(err)
	}
	name, _ := fileName(sysA)
	if err := os.Symlink(filepath.Join(elsewhere, name), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(dir).Load(sysA); c != nil || err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Load through a symbolic link = %v, %v; want an error", c, err)
	}
	fifo := filepath.Join(dir, strings.Repeat("b", 32)+".closure")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(dir).Load(sysB); c != nil || err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load of a FIFO = %v, %v; want an error, not a wait", c, err)
	}

	// The directory itself a link: Save refuses it.
	link := filepath.Join(t.TempDir(), "snapshots")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	if err := Open(link).Save(sample(sysB)); err == nil {
		t.Error("Save into a symbolic link to a directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(elsewhere, strings.Repeat("b", 32)+".closure")); err == nil {
		t.Error("Save wrote through the link")
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	d := Open(dir)
	var systems []string
	for i, h := range "abcdefgh" {
		s := storePath(byte(h), "nixos-system-web-"+string(h))
		systems = append(systems, s)
		if err := d.Save(sample(s)); err != nil {
			t.Fatal(err)
		}
		// Saved one after the other, a minute apart.
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		name, _ := fileName(s)
		if err := os.Chtimes(filepath.Join(dir, name), at, at); err != nil {
			t.Fatal(err)
		}
	}
	leftover := filepath.Join(dir, "."+strings.Repeat("a", 32)+".closure.12345")
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(dir, "README")
	if err := os.WriteFile(unrelated, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Keep a and c, and the two saved last besides them: g and h.
	n, err := d.Prune([]string{systems[0], systems[2], "not a store path"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, s := range systems {
		if c, _ := d.Load(s); c != nil {
			left = append(left, s[len("/nix/store/")+33:])
		}
	}
	want := []string{"nixos-system-web-a", "nixos-system-web-c", "nixos-system-web-g", "nixos-system-web-h"}
	if !slices.Equal(left, want) || n != 5 {
		t.Errorf("after Prune: %v (%d removed); want %v (5 removed)", left, n, want)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Error("a temporary file left behind was kept")
	}
	if _, err := os.Stat(unrelated); err != nil {
		t.Errorf("Prune removed a file it does not own: %v", err)
	}
	if n, err := Open(filepath.Join(dir, "missing")).Prune(nil, 0); n != 0 || err != nil {
		t.Errorf("Prune of a missing directory = %d, %v", n, err)
	}
}

// FuzzParse gives parse bodies with a valid checksum, so that the checks
// of the body itself are what it exercises.
func FuzzParse(f *testing.F) {
	good, _ := format(sample(sysA))
	f.Add(good[:bytes.LastIndex(good, []byte("sha256 "))])
	f.Add([]byte(header + "system /x\npaths 1\n/x\t\t\t0\t0\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		b := append(slices.Clone(body), "sha256 "+hex.EncodeToString(sum[:])+"\n"...)
		c, err := parse(b)
		if err != nil {
			return
		}
		// Whatever parses writes back the same.
		out, err := format(c)
		if err != nil {
			t.Fatalf("parsed %q, which does not format: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("parsed %q, formats as %q", b, out)
		}
	})
}
