# The Home Manager generations nixtest.BuildHome makes, laid out as Home
# Manager's home.activationPackage is: a "home-manager-generation" holding
# `activate`, `hm-version`, `gen-version`, and links to `home-path` (a
# "home-manager-path" referring to every package, as buildEnv makes it) and
# `home-files` (a "home-manager-files" whose files refer to the packages
# only a service uses). `spec` is the JSON file of the generations' specs.
{ spec }:
let
  sh = args: {
    system = builtins.currentSystem;
    builder = "/bin/sh";
    PATH = "/bin:/usr/bin";
  } // args;

  pkg =
    p:
    derivation (sh {
      name = if p.version == "" then p.name else "${p.name}-${p.version}";
      args = [
        "-c"
        "mkdir -p $out/bin && printf '#!/bin/sh\\necho ${p.name}\\n' > $out/bin/${p.name} && chmod +x $out/bin/${p.name}"
      ];
    });

  # Each package's files linked into one tree, as buildEnv does.
  homePath =
    h:
    derivation (sh {
      name = "home-manager-path";
      pkgs = map pkg h.packages;
      inherit (h) salt;
      args = [
        "-c"
        ''
          set -e
          mkdir -p $out/bin
          for p in $pkgs; do
            for f in "$p"/bin/*; do ln -s "$f" $out/bin/; done
          done
          echo "$salt" > $out/salt
        ''
      ];
    });

  # A user unit per service package, naming its store path.
  homeFiles =
    h:
    derivation (sh {
      name = "home-manager-files";
      services = map pkg h.services;
      args = [
        "-c"
        ''
          set -e
          mkdir -p $out/.config/systemd/user
          for p in $services; do
            n=''${p#*-}
            printf '[Service]\nExecStart=%s\n' "$p" > $out/.config/systemd/user/$n.service
          done
        ''
      ];
    });

  generation =
    h:
    derivation (sh {
      name = "home-manager-generation";
      homePath = homePath h;
      homeFiles = homeFiles h;
      inherit (h) label;
      args = [
        "-c"
        ''
          set -e
          mkdir -p $out/bin
          [ -z "$label" ] || echo "$label" > $out/hm-version
          echo 1 > $out/gen-version
          printf '#!/bin/sh\necho activating %s\n' "$out" > $out/activate
          chmod +x $out/activate
          ln -s $out/activate $out/bin/home-manager-generation
          ln -s $homePath $out/home-path
          ln -s $homeFiles $out/home-files
        ''
      ];
    });
in
map generation (builtins.fromJSON (builtins.readFile spec))
