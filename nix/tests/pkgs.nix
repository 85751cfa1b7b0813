# The part of nixpkgs the modules use, as real derivations that need nothing
# but /bin/sh to build (the tests build with sandbox = false). With bin, the
# package is that binary, and (unless check is false) the configuration file
# is checked with it at build time, as the module does on a native build.
# The shell scripts are written for /bin/sh, a stricter shell than the bash
# nixpkgs uses.
{
  lib,
  bin ? null,
  check ? true,
  hostPlatform ? { },
}:

let
  system = builtins.currentSystem;

  shell =
    name: script: env:
    derivation (
      env
      // {
        inherit name system;
        builder = "/bin/sh";
        # As in stdenv's builds, the first failing command fails the build.
        args = [
          "-c"
          "set -eu\n${script}"
        ];
        PATH = "/usr/bin:/bin";
      }
    );

  program =
    name: mainProgram: script:
    shell name script { } // { meta = { inherit mainProgram; }; };

  command = builtins.path {
    path = bin;
    name = "axiom-deploy-annotate";
  };
in
{
  axiom-deploy-annotation = program "axiom-deploy-annotation" "axiom-deploy-annotate" (
    if bin == null then
      "exit 1"
    else
      ''mkdir -p "$out/bin" && cp ${command} "$out/bin/axiom-deploy-annotate"''
  );
  nix = program "nix" "nix" "exit 1";
  # The host's own, for the scripts the tests run.
  coreutils = program "coreutils" "coreutils" ''
    mkdir -p "$out/bin"
    for tool in timeout; do ln -s "$(command -v "$tool")" "$out/bin/$tool"; done
  '';

  writeShellScriptBin =
    name: text:
    shell name
      ''
        mkdir -p "$out/bin"
        printf '#!/bin/sh\n%s' "$text" > "$out/bin/${name}"
        chmod +x "$out/bin/${name}"
      ''
      {
        inherit text;
      }
    // {
      inherit text;
      meta.mainProgram = name;
    };

  runCommand = name: env: script: shell name script env;

  formats.json = { }: {
    type = lib.types.anything // {
      name = "JSON value";
      description = "JSON value";
      check = v: !(builtins.isFunction v);
    };
    generate =
      name: value:
      shell name ''printf '%s' "$json" > "$out"'' {
        json = builtins.toJSON value;
      };
  };

  stdenv = {
    buildPlatform.canExecute = _: bin != null && check;
    inherit hostPlatform;
  };
}
