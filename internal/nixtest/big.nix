# The systems nixtest.BuildBig and nixtest.BuildFlat make: each package is a
# file added to the store at evaluation (builtins.toFile), which takes seconds
# for thousands of packages where as many derivations take most of an hour
# with Nix 2.8. Unless `flat`, a package's file names a few of the packages
# before it, as a package refers to its dependencies; a flat one refers to
# nothing. `spec` is the JSON file of the systems' specs.
{
  spec,
  flat ? false,
}:
let
  mkSystem = import ./mksystem.nix;
  storeName = p: if p.version == "" then p.name else "${p.name}-${p.version}";
  mod = a: b: a - (a / b) * b;
  files =
    ps:
    let
      fs = builtins.genList (
        i:
        let
          p = builtins.elemAt ps i;
          deps =
            if flat || i == 0 then
              [ ]
            else
              map (k: builtins.elemAt fs (mod k i)) [
                (i * 7919)
                (i * 104729 + 1)
                (i / 2)
              ];
        in
        builtins.toFile (storeName p) (builtins.concatStringsSep "\n" ([ (storeName p) ] ++ deps) + "\n")
      ) (builtins.length ps);
    in
    fs;
in
map (s: mkSystem (files s.packages) s) (builtins.fromJSON (builtins.readFile spec))
