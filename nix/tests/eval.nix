# Evaluates nix/nixos.nix, nix/darwin.nix or nix/home-manager.nix, and
# nix/common.nix, with the stand-ins in lib.nix, pkgs.nix and
# home-manager.nix and the platform's options the modules set.
# nix/module_test.go reads the result as JSON, or builds configFile; with
# docs, the result is the module's options as the manual lists them, which
# nix/options_test.go renders as docs/module-options.md.
{
  # nixos, darwin, home-manager (on Linux) or home-manager-darwin.
  platform ? "nixos",
  # services.axiom-deploy-annotation, as JSON; enable is implied.
  settings ? "{}",
  # Candidates for the settings.repositoryUrl option, as a JSON list.
  repositoryUrls ? "[]",
  bin ? null,
  # Whether a build with bin checks the configuration file with it.
  check ? true,
  # Home Manager: the user's home directory.
  home ? null,
  # Whether the result is the options' documentation instead.
  docs ? false,
}:

let
  darwin = platform == "darwin" || platform == "home-manager-darwin";
  standInLib = import ./lib.nix;
  pkgs = import ./pkgs.nix {
    lib = standInLib;
    bin = if bin == null then null else /. + bin;
    inherit check;
    hostPlatform = {
      isDarwin = darwin;
      isLinux = !darwin;
    };
  };
  hm = import ./home-manager.nix {
    lib = standInLib;
    inherit pkgs darwin;
    home =
      if home != null then
        home
      else if darwin then
        "/Users/alice"
      else
        "/home/alice";
  };
  inherit (standInLib) mkOption types;

  unit = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
  listOption = type: mkOption {
    type = types.listOf type;
    default = [ ];
  };

  # The options both system platforms have.
  system = {
    _file = "options of both system platforms";
    options = {
      assertions = listOption types.unspecified;
      environment.systemPackages = listOption types.package;
    };
  };

  homeManager = {
    module = ../home-manager.nix;
    inherit (hm) lib;
    options = { };
    modules = [ hm.module ];
    inherit (hm) result;
  };

  platforms = {
    nixos = {
      module = ../nixos.nix;
      lib = standInLib;
      modules = [ system ];
      options = {
        nix.package = mkOption {
          type = types.package;
          default = pkgs.nix;
        };
        systemd.services = mkOption {
          type = unit;
          default = { };
        };
        systemd.timers = mkOption {
          type = unit;
          default = { };
        };
        # NixOS's users module makes these accounts (users-groups.nix).
        users.users = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };
        users.groups = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };
      };
      result = config: {
        inherit (config.systemd) services timers;
        inherit (config.users) users groups;
        systemPackages = config.environment.systemPackages;
      };
    };

    darwin = {
      module = ../darwin.nix;
      lib = standInLib;
      modules = [ system ];
      options = {
        system.profile = mkOption {
          type = types.path;
          default = "/nix/var/nix/profiles/system";
        };
        system.activationScripts = mkOption {
          type = types.attrsOf (types.submodule { options.text = mkOption { type = types.lines; }; });
          default = { };
        };
        environment.etc = mkOption {
          type = types.attrsOf (types.submodule { options.text = mkOption { type = types.lines; }; });
          default = { };
        };
        launchd.labelPrefix = mkOption {
          type = types.str;
          default = "org.nixos";
        };
        # nix-darwin's modules/launchd: the plist keys themselves stay
        # serviceConfig's.
        launchd.daemons = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                command = mkOption {
                  type = types.either types.str types.path;
                  default = "";
                };
                script = mkOption {
                  type = types.lines;
                  default = "";
                };
                path = listOption (types.either types.path types.str);
                environment = mkOption {
                  type = types.attrsOf types.str;
                  default = { };
                };
                serviceConfig = mkOption {
                  type = types.attrsOf types.anything;
                  default = { };
                };
              };
            }
          );
          default = { };
        };
      };
      result = config: {
        inherit (config.launchd) daemons;
        postActivation = config.system.activationScripts.postActivation.text;
        etc = standInLib.mapAttrs (_: f: f.text) config.environment.etc;
        systemPackages = config.environment.systemPackages;
      };
    };

    home-manager = homeManager;
    home-manager-darwin = homeManager;
  };

  p = platforms.${platform};

  eval = standInLib.evalModules {
    modules = [
      p.module
      {
        _file = "platform options";
        inherit (p) options;
      }
      {
        _file = "options of every platform";
        options = {
          warnings = listOption types.str;
          meta.maintainers = listOption types.raw;
        };
      }
      {
        _file = "settings";
        services.axiom-deploy-annotation = {
          enable = true;
        }
        // builtins.fromJSON settings;
      }
    ]
    ++ p.modules;
    specialArgs = {
      inherit pkgs;
      inherit (p) lib;
    };
  };

  inherit (eval) config;
  cfg = config.services.axiom-deploy-annotation;
  settingsOptions = eval.options.services.axiom-deploy-annotation.settings.type.getSubOptions [ ];

  # Each option under services.axiom-deploy-annotation as nixpkgs'
  # lib.optionAttrSetToDocList gives it to the manual: its name, the
  # description of its type, its default (or the text that stands for it),
  # example and description, whether it is visible and read-only; a
  # submodule's options after its own. A plain value is { _type = "value";
  # value; }, beside literalExpression's and literalMD's { _type; text; }.
  optionDocs =
    let
      literal =
        v:
        if builtins.elem (v._type or null) [
          "literalExpression"
          "literalMD"
        ] then
          v
        else
          {
            _type = "value";
            value = v;
          };
      doc =
        loc: o:
        {
          name = standInLib.showOption loc;
          type = o.type.description;
          description = o.description or null;
          visible = o.visible or true;
          readOnly = o.readOnly or false;
        }
        // standInLib.optionalAttrs (o ? defaultText || o ? default) {
          default = if o ? defaultText then literal o.defaultText else literal o.default;
        }
        // standInLib.optionalAttrs (o ? example) { example = literal o.example; };
      walk =
        loc: tree:
        builtins.concatMap (
          n:
          let
            o = tree.${n};
            at = loc ++ [ n ];
          in
          if o._type or null == "option" then
            [ (doc at o) ]
            ++ standInLib.optionals (o.type ? getSubOptions) (walk at (o.type.getSubOptions at))
          else
            walk at o
        ) (builtins.attrNames tree);
    in
    walk [
      "services"
      "axiom-deploy-annotation"
    ] eval.options.services.axiom-deploy-annotation;

  evaluation = p.result config // {
    failedAssertions = map (a: a.message) (
      builtins.filter (a: !a.assertion) (config.assertions or [ ])
    );
    inherit (config) warnings;
    configFile = cfg.configFile;
    package = cfg.package;
    maintainers = config.meta.maintainers;
    repositoryUrlAccepted = map settingsOptions.repositoryUrl.type.check (
      builtins.fromJSON repositoryUrls
    );
    settingsOptions = builtins.attrNames settingsOptions;
  };
in
if docs then optionDocs else evaluation
