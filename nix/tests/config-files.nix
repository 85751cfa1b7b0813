# Builds the configuration file of each case and reads it back, so that a
# test can compare many in one evaluation (run it with --read-write-mode:
# the files are built while evaluating). cases: a JSON list of
# { platform, settings }, as eval.nix takes them.
{ cases }:

map (
  c:
  let
    e = import ./eval.nix {
      inherit (c) platform;
      settings = builtins.toJSON (c.settings or { });
    };
  in
  {
    text = builtins.readFile e.configFile;
    inherit (e) warnings;
  }
) (builtins.fromJSON cases)
