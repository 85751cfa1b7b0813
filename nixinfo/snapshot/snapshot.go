// Package snapshot keeps the closures of systems in a directory, one file
// a system: each store path of the closure with its name, version, NAR
// size and references. A store path's closure never changes, so a snapshot
// stays true for as long as it is kept, even after the system has been
// collected as garbage.
//
// A file is written whole or not at all, starts with the format's name and
// version and ends with a checksum; one that is not a regular file, is of
// another version, corrupt, or holds another system's closure is no
// snapshot. Files are never opened through a symbolic link.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// Path is one store path of a closure.
type Path struct {
	Path string
	// Name and Version are the path's package name and version, as nix
	// store diff-closures groups paths.
	Name, Version string
	NarSize       uint64
	// References are the paths this one refers to, as indices into the
	// closure's Paths.
	References []int
}

// Closure is a system's closure: the system itself first, then every path
// it refers to, directly or not.
type Closure struct {
	System string
	Paths  []Path
}

// header is the first line of a snapshot: the format and its version. A
// change to the format takes a new version; older files are then misses.
const header = "axiom-deploy-annotation closure snapshot 1\n"

// maxFile bounds what is read: a 3000-path closure takes about 400 KiB.
const maxFile = 64 << 20

// Dir is a directory of snapshots.
type Dir struct {
	path string
}

// Open is the directory of snapshots at path; it is made at the first
// Save. The directory it is in may be a link (as a state directory may);
// the snapshot directory itself and the files in it are never followed
// through one.
func Open(path string) *Dir { return &Dir{path: path} }

// open opens the snapshot directory, making it first when create is set;
// a missing one is an error matching fs.ErrNotExist.
func (d *Dir) open(create bool) (*statedir.Dir, error) {
	parent, err := statedir.Open(filepath.Dir(d.path))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	return parent.Sub(filepath.Base(d.path), create)
}

// fileName is the file of a system's snapshot: the hash of its store
// path, which identifies it.
func fileName(system string) (string, error) {
	base := filepath.Base(system)
	hash, _, ok := strings.Cut(base, "-")
	if !ok || len(hash) != 32 || !filepath.IsAbs(system) {
		return "", fmt.Errorf("%q is not a store path", system)
	}
	return hash + ".closure", nil
}

// fileOf opens the snapshot directory, making it first when create is
// set, and names the file of system's snapshot in it.
func (d *Dir) fileOf(system string, create bool) (*statedir.Dir, string, error) {
	name, err := fileName(system)
	if err != nil {
		return nil, "", err
	}
	dir, err := d.open(create)
	return dir, name, err
}

// Load reads the snapshot of system: nil and no error when there is none;
// an error when the file is unreadable, corrupt, of another version or of
// another system, which callers treat as none.
func (d *Dir) Load(system string) (*Closure, error) {
	dir, name, err := d.fileOf(system, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	b, err := dir.ReadFile(name, maxFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", name, err)
	}
	if c.System != system {
		return nil, fmt.Errorf("snapshot %s is of another system, %s", name, c.System)
	}
	return c, nil
}

// Has says whether there is a snapshot of system: a regular file, not
// read, so one that Load may still refuse.
func (d *Dir) Has(system string) bool {
	dir, name, err := d.fileOf(system, false)
	if err != nil {
		return false
	}
	defer dir.Close()
	fi, err := dir.Lstat(name)
	return err == nil && fi.Mode().IsRegular()
}

// Save writes the snapshot of c.System, replacing any. The directory is
// made if missing; a symbolic link in its place is refused.
func (d *Dir) Save(c *Closure) error {
	b, err := format(c)
	if err != nil {
		return err
	}
	dir, name, err := d.fileOf(c.System, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.WriteFile(name, b, false)
}

// format writes a closure: the header, the system, the number of paths,
// a line for each path (path, name, version, NAR size and references,
// separated by tabs; the references as indices separated by commas), and
// the SHA-256 of all that.
func format(c *Closure) ([]byte, error) {
	if len(c.Paths) == 0 || c.Paths[0].Path != c.System {
		return nil, errors.New("a closure starts with its system")
	}
	b := make([]byte, 0, 128*len(c.Paths))
	b = append(b, header...)
	b = append(b, "system "+c.System+"\n"...)
	b = append(b, "paths "...)
	b = strconv.AppendInt(b, int64(len(c.Paths)), 10)
	b = append(b, '\n')
	for _, p := range c.Paths {
		for _, s := range []string{p.Path, p.Name, p.Version} {
			if strings.ContainsAny(s, "\t\n") {
				return nil, fmt.Errorf("%q holds a tab or a line break", s)
			}
		}
		b = append(b, p.Path+"\t"+p.Name+"\t"+p.Version+"\t"...)
		b = strconv.AppendUint(b, p.NarSize, 10)
		b = append(b, '\t')
		for i, r := range p.References {
			if r < 0 || r >= len(c.Paths) {
				return nil, fmt.Errorf("%s refers to path %d of %d", p.Path, r, len(c.Paths))
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(r), 10)
		}
		b = append(b, '\n')
	}
	sum := sha256.Sum256(b)
	b = append(b, "sha256 "+hex.EncodeToString(sum[:])+"\n"...)
	return b, nil
}

// parse reads what format wrote, checking everything it can.
func parse(b []byte) (*Closure, error) {
	body, sumLine, ok := cutLastLine(b)
	if !ok || !strings.HasPrefix(sumLine, "sha256 ") {
		return nil, errors.New("no checksum: cut short or not a snapshot")
	}
	sum := sha256.Sum256(body)
	if sumLine[len("sha256 "):] != hex.EncodeToString(sum[:]) {
		return nil, errors.New("checksum mismatch")
	}
	if !bytes.HasPrefix(body, []byte(header)) {
		return nil, errors.New("not a snapshot of this version")
	}
	s := string(body[len(header):]) // one copy; every field is a part of it
	line := func() string {
		l, rest, _ := strings.Cut(s, "\n")
		s = rest
		return l
	}
	system, ok := strings.CutPrefix(line(), "system ")
	if !ok {
		return nil, errors.New("no system")
	}
	count, ok := strings.CutPrefix(line(), "paths ")
	n, valid := number(count)
	if !ok || !valid || n < 1 || n > uint64(strings.Count(s, "\n")) {
		return nil, errors.New("bad number of paths")
	}
	c := &Closure{System: system, Paths: make([]Path, n)}
	// The paths' references, in one array: no more than a reference a
	// comma and one a path.
	refs := make([]int, 0, strings.Count(s, ",")+int(n))
	var err error
	for i := range c.Paths {
		if c.Paths[i], refs, err = parsePath(line(), int(n), refs); err != nil {
			return nil, fmt.Errorf("path %d: %w", i, err)
		}
	}
	if s != "" {
		return nil, errors.New("more paths than it says")
	}
	if c.Paths[0].Path != system {
		return nil, errors.New("the first path is not the system")
	}
	return c, nil
}

// cutLastLine splits b before its last line, which must end b.
func cutLastLine(b []byte) (body []byte, last string, ok bool) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(b[:len(b)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return b[:i+1], string(b[i+1 : len(b)-1]), true
}

// parsePath reads the line of a path in a closure of n paths, its
// references appended to refs.
func parsePath(line string, n int, refs []int) (Path, []int, error) {
	var f [5]string
	for i := range 4 {
		var ok bool
		if f[i], line, ok = strings.Cut(line, "\t"); !ok {
			return Path{}, refs, errors.New("too few fields")
		}
	}
	f[4] = line
	if !strings.HasPrefix(f[0], "/") || strings.Contains(f[4], "\t") {
		return Path{}, refs, errors.New("malformed")
	}
	size, ok := number(f[3])
	if !ok {
		return Path{}, refs, errors.New("bad NAR size")
	}
	p := Path{Path: f[0], Name: f[1], Version: f[2], NarSize: size}
	if f[4] == "" {
		return p, refs, nil
	}
	start := len(refs)
	for r := range strings.SplitSeq(f[4], ",") {
		k, ok := number(r)
		if !ok || k >= uint64(n) {
			return Path{}, refs, fmt.Errorf("bad reference %q", r)
		}
		refs = append(refs, int(k))
	}
	p.References = refs[start:len(refs):len(refs)]
	return p, refs, nil
}

// number reads a number as format writes it: decimal digits, no leading
// zero, at most 19 of them.
func number(s string) (uint64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}
