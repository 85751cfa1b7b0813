# The systems nixtest.BuildDeep makes: as big.nix, each package a file added
# to the store at evaluation, but each refers to the packages `deps` names
# (indices of packages before it), and the toplevel only to the packages
# `roots` names, the rest being reached through them.
{ spec }:
let
  mkSystem = import ./mksystem.nix;
  storeName = p: if p.version == "" then p.name else "${p.name}-${p.version}";
  files =
    s:
    let
      fs = builtins.genList (
        i:
        let
          p = builtins.elemAt s.packages i;
          deps = map (k: builtins.elemAt fs k) (builtins.elemAt s.deps i);
        in
        builtins.toFile (storeName p) (builtins.concatStringsSep "\n" ([ (storeName p) ] ++ deps) + "\n")
      ) (builtins.length s.packages);
    in
    fs;
in
map (
  s:
  let
    fs = files s;
  in
  mkSystem (map (k: builtins.elemAt fs k) s.roots) s
) (builtins.fromJSON (builtins.readFile spec))
