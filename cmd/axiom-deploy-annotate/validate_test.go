package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadTokenRefuses: what cannot be a token is a token-file error that
// names the file and says what is wrong, and never repeats what it holds.
func TestReadTokenRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content string
		want    string
	}{
		"two-lines": {"xaat-0000-secret\nxaat-1111-secret\n", "holds more than one line"},
		"bom":       {"\ufeffxaat-0000-secret", "starts with a byte-order mark"},
		"big":       {strings.Repeat("xaat-0000-secret", 1<<16), "larger than 4096 bytes"},
		"empty":     {"  \n", "is empty"},
		"not-axiom": {"ghp_0000secret", "not an Axiom token"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readToken(path, time.Time{}, func(string, ...any) {})
			if err == nil || !strings.Contains(err.Error(), "token file "+path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a token-file error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error repeats the file's content: %v", err)
			}
		})
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("  xaat-0000-good\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := readToken(good, time.Time{}, func(string, ...any) {}); err != nil || tok != "xaat-0000-good" {
		t.Errorf("good token: %q, %v", tok, err)
	}
}
