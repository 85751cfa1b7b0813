# Go durations limited to whole hours, minutes and seconds ("45s", "1m30s"),
# so that Nix can derive a unit's own time limit from the same value.
lib:

let
  pattern = "(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?";

  seconds =
    d:
    let
      m = builtins.match pattern d;
      part = i: if builtins.elemAt m i == null then 0 else lib.toIntBase10 (builtins.elemAt m i);
    in
    3600 * part 1 + 60 * part 3 + part 5;
in
{
  inherit seconds;
  type = lib.types.addCheck (lib.types.strMatching pattern) (d: d != "" && seconds d > 0);
}
