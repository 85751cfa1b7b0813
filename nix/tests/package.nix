# Which builder nix/package.nix picks for a nixpkgs whose default Go is
# goVersion, with or without buildGo126Module. Each builder stands in as its
# own name.
{
  goVersion,
  hasGo126 ? true,
}:

import ../package.nix {
  lib = import ./lib.nix;
  go.version = goVersion;
  buildGoModule = _: "buildGoModule";
  buildGo126Module = if hasGo126 then _: "buildGo126Module" else null;
}
