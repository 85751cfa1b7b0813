# Evaluates nix/nixos.nix or nix/darwin.nix, and nix/common.nix, with the
# stand-ins in lib.nix and pkgs.nix and the platform's options the modules
# set. nix/module_test.go reads the result as JSON, or builds configFile.
{
  platform ? "nixos",
  # services.axiom-deploy-annotation, as JSON; enable is implied.
  settings ? "{}",
  # Candidates for the repositoryUrl option, as a JSON list.
  repositoryUrls ? "[]",
  bin ? null,
  # A cross build, which cannot run the command: the configuration file
  # goes unchecked.
  cross ? false,
}:

let
  lib = import ./lib.nix;
  pkgs = import ./pkgs.nix {
    inherit lib cross;
    bin = if bin == null then null else /. + bin;
  };
  inherit (lib) mkOption types;

  unit = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
  listOption = type: mkOption {
    type = types.listOf type;
    default = [ ];
  };

  platforms = {
    nixos = {
      module = ../nixos.nix;
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
      };
    };

    darwin = {
      module = ../darwin.nix;
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
        etc = lib.mapAttrs (_: f: f.text) config.environment.etc;
      };
    };
  };

  p = platforms.${platform};

  eval = lib.evalModules {
    modules = [
      p.module
      {
        _file = "platform options";
        inherit (p) options;
      }
      {
        _file = "options of both platforms";
        options = {
          assertions = listOption types.unspecified;
          environment.systemPackages = listOption types.package;
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
    ];
    specialArgs = { inherit pkgs; };
  };

  inherit (eval) config;
  cfg = config.services.axiom-deploy-annotation;
in
p.result config
// {
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  configFile = cfg.configFile;
  package = cfg.package;
  systemPackages = config.environment.systemPackages;
  maintainers = config.meta.maintainers;
  repositoryUrlAccepted = map eval.options.services.axiom-deploy-annotation.repositoryUrl.type.check (
    builtins.fromJSON repositoryUrls
  );
}
