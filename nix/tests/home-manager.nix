# A stand-in for the part of Home Manager that nix/home-manager.nix uses: its
# lib.hm.dag, the options the module sets, and the activation entries Home
# Manager itself defines around them, so that the order the activation
# script runs them in can be tested. It follows Home Manager's
# modules/lib/dag.nix, modules/home-environment.nix, modules/files.nix,
# modules/systemd.nix and modules/launchd in behaviour, not in code.
{
  lib,
  pkgs,
  darwin,
  # The user's home directory.
  home,
}:

let
  inherit (lib) mkOption types;

  # modules/lib/dag.nix: an entry is its text and the names of the entries
  # it must run before and after.
  dag = rec {
    entryBetween = before: after: data: { inherit data before after; };
    entryAnywhere = entryBetween [ ] [ ];
    entryAfter = entryBetween [ ];
    entryBefore = before: entryBetween before [ ];
  };

  dagEntry = types.mkOptionType {
    name = "DAG entry";
    check = v: builtins.isAttrs v && v ? data && v ? before && v ? after;
  };

  # The entries in the order the activation script runs them: each after
  # everything its `after` names and everything whose `before` names it.
  # Names that are not entries are ignored, as Home Manager does.
  topoSort =
    entries:
    let
      names = builtins.attrNames entries;
      preds =
        n:
        builtins.filter (
          m: m != n && (builtins.elem m entries.${n}.after || builtins.elem n entries.${m}.before)
        ) names;
      step =
        done: rest:
        let
          ready = builtins.filter (n: builtins.all (p: builtins.elem p done) (preds n)) rest;
          next = builtins.head ready;
        in
        if rest == [ ] then
          done
        else if ready == [ ] then
          throw "home.activation has a cycle among ${builtins.concatStringsSep ", " rest}"
        else
          step (done ++ [ next ]) (builtins.filter (n: n != next) rest);
    in
    step [ ] names;

  unit = types.attrsOf (types.attrsOf types.anything);

  options = {
    home.activation = mkOption {
      type = types.attrsOf dagEntry;
      default = { };
    };
    home.packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    home.homeDirectory = mkOption {
      type = types.str;
      default = home;
    };
    home.profileDirectory = mkOption {
      type = types.str;
      default = "${home}/.nix-profile";
    };
    xdg.stateHome = mkOption {
      type = types.str;
      default = "${home}/.local/state";
    };
    xdg.configHome = mkOption {
      type = types.str;
      default = "${home}/.config";
    };
    nix.package = mkOption {
      type = types.nullOr types.package;
      default = null;
    };
    systemd.user.systemctlPath = mkOption {
      type = types.str;
      default = "/run/current-system/sw/bin/systemctl";
    };
    # modules/systemd.nix: each unit is its INI sections.
    systemd.user.services = mkOption {
      type = unit;
      default = { };
    };
    systemd.user.timers = mkOption {
      type = unit;
      default = { };
    };
    # modules/launchd: the plist keys are the agent's config.
    launchd.agents = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              enable = lib.mkEnableOption name;
              config = mkOption {
                type = types.attrsOf types.anything;
                default = { };
              };
            };
            config.config.Label = lib.mkDefault "org.nix-community.home.${name}";
          }
        )
      );
      default = { };
    };
  };

  # What Home Manager's own modules put around the module's entries.
  activation = {
    checkLinkTargets = dag.entryBefore [ "writeBoundary" ] "";
    writeBoundary = dag.entryAnywhere "";
    installPackages = dag.entryAfter [ "writeBoundary" ] "";
    linkGeneration = dag.entryAfter [ "writeBoundary" ] "";
    onFilesChange = dag.entryAfter [ "linkGeneration" ] "";
  }
  // (
    if darwin then
      { setupLaunchAgents = dag.entryAfter [ "writeBoundary" ] ""; }
    else
      { reloadSystemd = dag.entryAfter [ "linkGeneration" ] ""; }
  );
in
{
  lib = lib // {
    hm = { inherit dag; };
  };

  module = {
    _file = "Home Manager's options";
    inherit options;
    config.home.activation = activation;
  };

  result =
    config:
    let
      entries = config.home.activation;
      order = topoSort entries;
    in
    {
      inherit (config.systemd.user) services timers;
      agents = lib.mapAttrs (_: a: a.config) (lib.filterAttrs (_: a: a.enable) config.launchd.agents);
      activation = lib.mapAttrs (_: e: e.data) entries;
      activationOrder = order;
      # The entries as the generation's activate script runs them, for bash
      # with errexit, nounset and pipefail, as Home Manager runs it.
      activate = pkgs.runCommand "activate" {
        text = lib.concatStringsSep "\n" (map (n: entries.${n}.data) order);
      } ''printf '%s' "$text" > "$out"'';
      systemPackages = config.home.packages;
    };
}
