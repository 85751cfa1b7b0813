package statedir

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

func open(t *testing.T, path string) *Dir {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestWriteFile: the file holds what was written, replaces what was there
// (a link included, which is not followed), and leaves no temporary file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	d := open(t, dir)
	for _, durable := range []bool{false, true} {
		if err := d.WriteFile("state.json", []byte("new"), durable); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err != nil || string(b) != "new" {
			t.Errorf("durable=%v: %q, %v", durable, b, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Errorf("the link's target was written: %q", b)
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("%d files left, want 1", len(des))
	}
	if fi, err := os.Stat(filepath.Join(dir, "state.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestLinksRefused: a link inside the directory, to a file or a directory,
// is neither opened nor read nor made a directory through, and the error
// says it is a link; the directory itself may be a link.
func TestLinksRefused(t *testing.T) {
	real, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "file"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"file": filepath.Join(outside, "file"), "dir": outside, "dangling": filepath.Join(outside, "none")} {
		if err := os.Symlink(target, filepath.Join(real, name)); err != nil {
			t.Fatal(err)
		}
	}
	linked := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(real, linked); err != nil {
		t.Fatal(err)
	}
	d := open(t, linked)
	for _, name := range []string{"file", "dir", "dangling"} {
		if _, err := d.ReadFile(name, 100); !errors.Is(err, ErrLink) {
			t.Errorf("ReadFile %s: %v, want ErrLink", name, err)
		}
		if _, err := d.Sub(name, true); !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), filepath.Join(linked, name)) {
			t.Errorf("Sub %s: %v, want ErrLink naming it", name, err)
		}
		if _, err := d.TryLock(name, Exclusive); !errors.Is(err, ErrLink) {
			t.Errorf("TryLock %s: %v, want ErrLink", name, err)
		}
		if err := d.CheckFile(name); !errors.Is(err, ErrLink) {
			t.Errorf("CheckFile %s: %v, want ErrLink", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(outside, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was made through the dangling link: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "file")); string(b) != "secret" {
		t.Errorf("the file behind the link changed: %q", b)
	}
}

// TestReadFileBounded: what is not a regular file, or is too large, is not
// read; a FIFO without a writer does not block.
func TestReadFileBounded(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 101), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	d := open(t, dir)
	if _, err := d.ReadFile("fifo", 100); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
	if _, err := d.ReadFile("big", 100); !errors.Is(err, bounded.ErrTooLarge) {
		t.Errorf("big: %v, want ErrTooLarge", err)
	}
	if _, err := d.ReadFile("sub", 100); err == nil {
		t.Error("a directory was read as a file")
	}
	if err := d.CheckFile("sub"); err == nil {
		t.Error("a directory passed as a file")
	}
	if _, err := d.Sub("big", false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Sub of a file: %v", err)
	}
}

// TestTemporary: only names WriteFile makes are temporary, and
// RemoveTemporary removes those alone.
func TestTemporary(t *testing.T) {
	for name, want := range map[string]bool{
		".state.json.123":                     true,
		".00000000000000000001-abcd.json.42":  true,
		".00000000000000000001.pb.7":          true,
		"state.json":                          false,
		".state.json":                         false,
		".state.json.":                        false,
		".sending-12-00000000000000000001.pb": false,
		".state.json.12a":                     false,
		"..1":                                 false,
		// The name a lock file is made under by root in someone else's
		// directory: made before any lock is held, it is no one's to tidy.
		".spool.lock.new-123": false,
	} {
		if got := IsTemporary(name); got != want {
			t.Errorf("IsTemporary(%q) = %v, want %v", name, got, want)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{".state.json.123", "state.json", ".sending-1-x.pb"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := open(t, dir).RemoveTemporary(); n != 1 {
		t.Errorf("removed %d, want 1", n)
	}
	if des, _ := os.ReadDir(dir); len(des) != 2 {
		t.Errorf("%d files left, want 2", len(des))
	}
}

// TestLock: shared locks exclude only an exclusive one; a wait ends with
// its context.
func TestLock(t *testing.T) {
	d := open(t, t.TempDir())
	a, err := d.TryLock("lock", Shared)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(t, d.Path()).TryLock("lock", Shared)
	if err != nil {
		t.Fatalf("a second shared lock: %v", err)
	}
	if _, err := d.TryLock("lock", Exclusive); !errors.Is(err, ErrLocked) {
		t.Errorf("exclusive while shared: %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := d.Lock(ctx, "lock", Exclusive, func() { waited = true }); !errors.Is(err, ErrLocked) || !waited {
		t.Errorf("waiting past the context: %v (waited %v), want ErrLocked", err, waited)
	}
	a.Release()
	b.Release()
	l, err := d.TryLock("lock", Exclusive)
	if err != nil {
		t.Fatalf("exclusive once released: %v", err)
	}
	l.Release()
}

// TestWritable: a directory the run cannot write is found without making
// a file in it.
func TestWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	d := open(t, dir)
	if err := d.Writable(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := d.Writable(); err == nil {
		t.Error("a read-only directory counts as writable")
	}
}

// TestOwnedByDirectoryOwner: what root makes in someone else's directory
// (a file, a lock file, a directory) is that someone's, so a service's own
// user can still read and replace it; in root's own directory it stays
// root's.
func TestOwnedByDirectoryOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 61234, 61235
	for _, c := range []struct {
		name             string
		owned            bool
		wantUID, wantGID uint32
	}{
		{"another user's directory", true, uid, gid},
		{"root's directory", false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.owned {
				if err := os.Chown(dir, uid, gid); err != nil {
					t.Fatal(err)
				}
			}
			d := open(t, dir)
			if err := d.WriteFile("written", []byte("x"), true); err != nil {
				t.Fatal(err)
			}
			l, err := d.TryLock("lock", Exclusive)
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
			sub, err := d.Sub("sub", true)
			if err != nil {
				t.Fatal(err)
			}
			sub.Close()
			for _, name := range []string{"written", "lock", "sub"} {
				fi, err := os.Lstat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if st.Uid != c.wantUID || st.Gid != c.wantGID {
					t.Errorf("%s: owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, c.wantUID, c.wantGID)
				}
			}
			if des, _ := d.ReadDir(); len(des) != 3 {
				t.Errorf("%d entries, want 3: no temporary file left", len(des))
			}
		})
	}
}

// TestLockKeptToExitNote: a lock kept until the process exits leaves its
// note for the next holder, who can clear it; a lock file that is there
// already stays the same file.
func TestLockKeptToExitNote(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir)
	l, err := d.TryLock("lock", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Lstat(filepath.Join(dir, "lock"))
	if got := l.Note(); got != "" {
		t.Errorf("a new lock's note: %q", got)
	}
	l.KeepToExit("1234 5678\n")
	if _, err := d.TryLock("lock", Exclusive); !errors.Is(err, ErrLocked) {
		t.Fatalf("a lock kept to exit: %v, want ErrLocked", err)
	}
	b, err := d.ReadFile("lock", 64)
	if err != nil || string(b) != "1234 5678\n" {
		t.Errorf("lock file holds %q, %v", b, err)
	}
	after, _ := os.Lstat(filepath.Join(dir, "lock"))
	if !os.SameFile(before, after) {
		t.Error("the lock file was replaced")
	}
}

// TestLockMadeWhileTidying: a lock file made while another run removes
// temporary files is made whole; lock files are made before any lock is
// held, so making one must leave nothing a tidying run would take.
func TestLockMadeWhileTidying(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				d.RemoveTemporary()
			}
		}
	}()
	for i := range 500 {
		name := "lock" + strconv.Itoa(i)
		l, err := d.TryLock(name, Exclusive)
		if err != nil {
			close(stop)
			<-done
			t.Fatalf("lock %d: %v", i, err)
		}
		l.Release()
	}
	close(stop)
	<-done
}
