# A fake system toplevel laid out as NixOS or nix-darwin does: `pkgs` are the
# store paths of its packages, `s` a system's spec as nixtest.go writes it.
pkgs: s:
derivation {
  name =
    if s.name != "" then
      s.name
    else if s.darwin then
      "darwin-system-${s.label}"
    else
      "nixos-system-${s.host}-${s.label}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/bin:/usr/bin";
  inherit (s) label versionJson salt;
  darwin = if s.darwin then "1" else "";
  noVersionInfo = if s.noVersionInfo then "1" else "";
  inherit pkgs;
  # Thousands of package paths overflow an environment variable.
  passAsFile = [
    "versionJson"
    "label"
    "pkgs"
  ];
  args = [
    "-c"
    ''
      set -e
      mkdir -p $out/sw/bin
      tr ' ' '\n' < "$pkgsPath" > $out/sw/packages
      echo "$salt" > $out/salt
      if [ -n "$darwin" ]; then
        cp "$labelPath" $out/darwin-version
        [ -n "$noVersionInfo" ] || cp "$versionJsonPath" $out/darwin-version.json
      else
        cp "$labelPath" $out/nixos-version
        if [ -z "$noVersionInfo" ]; then
          cp "$versionJsonPath" $out/sw/version.json
          printf '#!/bin/sh\n[ "$1" = --json ] || { echo "%s"; exit 0; }\nexec cat %s\n' "$(cat $labelPath)" "$out/sw/version.json" > $out/sw/bin/nixos-version
          chmod +x $out/sw/bin/nixos-version
        fi
      fi
    ''
  ];
}
