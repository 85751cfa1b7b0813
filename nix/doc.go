// Package nix holds the Nix side of the project (the package, the NixOS,
// nix-darwin and Home Manager modules, their tests) and, in its tests, the
// checks that keep those files parsing, rendering and building.
package nix
