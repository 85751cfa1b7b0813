# Evaluates nix/nixos.nix or nix/darwin.nix, and nix/common.nix, with the
# stand-ins in lib.nix and pkgs.nix and the platform's options the modules
# set.
# nix/module_test.go reads the result as JSON, or builds configFile.
{
  # nixos or darwin.
  platform ? "nixos",
  # services.axiom-deploy-annotation, as JSON; enable is implied.
  settings ? "{}",
  # Candidates for the settings.repositoryUrl option, as a JSON list.
  repositoryUrls ? "[]",
  bin ? null,
}:

let
  darwin = platform == "darwin";
  standInLib = import ./lib.nix;
  pkgs = import ./pkgs.nix {
    lib = standInLib;
    bin = if bin == null then null else /. + bin;
    hostPlatform = {
      isDarwin = darwin;
      isLinux = !darwin;
    };
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
      };
      result = config: {
        inherit (config.systemd) services timers;
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
in
p.result config
// {
  failedAssertions = map (a: a.message) (
    builtins.filter (a: !a.assertion) (config.assertions or [ ])
  );
  inherit (config) warnings;
  configFile = cfg.configFile;
  maintainers = config.meta.maintainers;
  repositoryUrlAccepted = map settingsOptions.repositoryUrl.type.check (
    builtins.fromJSON repositoryUrls
  );
  settingsOptions = builtins.attrNames settingsOptions;
}
