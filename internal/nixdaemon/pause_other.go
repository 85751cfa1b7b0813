//go:build !linux

package nixdaemon

// pause reads answers as they come where there is no nanosleep to wait
// for a pile of them with: nix-darwin's daemon is asked the same way, one
// read an answer.
func pause(int) {}
