# What nixos.nix and darwin.nix share: the options under
# services.axiom-deploy-annotation, their checks, and the configuration file
# the command reads with --config. Not a module itself: each platform module
# imports it with its own config, lib and pkgs.
{
  config,
  lib,
  pkgs,
}:

let
  inherit (lib) literalExpression mkOption types;

  cfg = config.services.axiom-deploy-annotation;
  json = pkgs.formats.json { };

  # Where the command keeps state.json, spool/ and its lock. On NixOS this is
  # the service's StateDirectory, so it is not a setting.
  stateDir = "/var/lib/axiom-deploy-annotation";

  url = types.strMatching "https?://[^[:space:]]+";

  # A string, never a Nix path: a path value would be copied into the world
  # readable store, secret and all.
  absolutePath = types.strMatching "/.+";

  # Go durations limited to whole hours, minutes and seconds ("45s", "1m30s"),
  # so Nix can compute the service's own time limit from the same value.
  durationPattern = "(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?";
  durationSeconds =
    d:
    let
      m = builtins.match durationPattern d;
      part = i: if builtins.elemAt m i == null then 0 else lib.toIntBase10 (builtins.elemAt m i);
    in
    3600 * part 1 + 60 * part 3 + part 5;
  duration = types.addCheck (types.strMatching durationPattern) (d: d != "" && durationSeconds d > 0);

  tracesToken = cfg.tracing.enable && cfg.tracing.tokenPath != cfg.tokenPath;

  # The keys the options own; settings may not set them too.
  owned = {
    inherit stateDir;
    tokenFile = cfg.tokenPath;
    inherit (cfg) apiEndpoint datasets;
    type = cfg.annotationType;
    repositoryUrl = if cfg.repositoryUrl == null then "" else cfg.repositoryUrl;
    # An empty endpoint turns export off. With tracing on but no dataset the
    # command still exports when OTEL_EXPORTER_OTLP_HEADERS names one.
    tracesEndpoint = if cfg.tracing.enable then cfg.tracing.endpoint else "";
    tracesDataset =
      if cfg.tracing.enable && cfg.tracing.dataset != null then cfg.tracing.dataset else "";
    # Empty means the annotation token.
    tracesTokenFile = if tracesToken then cfg.tracing.tokenPath else "";
  };

  # What to do instead of setting each owned key.
  ownedBy =
    let
      o = "services.axiom-deploy-annotation";
    in
    {
      stateDir = "the state directory is fixed at ${stateDir}";
      tokenFile = "use ${o}.tokenPath";
      apiEndpoint = "use ${o}.apiEndpoint";
      datasets = "use ${o}.datasets";
      type = "use ${o}.annotationType";
      repositoryUrl = "use ${o}.repositoryUrl";
      tracesEndpoint = "use ${o}.tracing.endpoint or ${o}.tracing.enable";
      tracesDataset = "use ${o}.tracing.dataset";
      tracesTokenFile = "use ${o}.tracing.tokenPath";
    };

  unchecked = json.generate "axiom-deploy-annotation.json" (cfg.settings // owned);

  # The command's own validation runs at build time, so a bad setting fails
  # `nixos-rebuild build` or `darwin-rebuild build` rather than the deploy. It
  # reads no token and touches neither the network nor the store. When the
  # build machine cannot run the target's binary (cross builds), the file is
  # used unchecked.
  checked =
    pkgs.runCommand "axiom-deploy-annotation.json"
      {
        preferLocalBuild = true;
      }
      ''
        ${lib.optionalString (pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform) ''
          ${lib.getExe cfg.package} check-config --config ${unchecked}
        ''}
        cp ${unchecked} $out
      '';
in
{
  inherit stateDir tracesToken;

  configFile = checked;

  # Seconds the command may take, from settings.timeout.
  timeoutSeconds = durationSeconds cfg.settings.timeout;

  assertions = lib.mapAttrsToList (key: instead: {
    assertion = !(cfg.settings ? ${key});
    message = "services.axiom-deploy-annotation.settings.${key} is set by the module; ${instead}.";
  }) ownedBy;

  options = {
    enable = lib.mkEnableOption "an Axiom annotation, and OpenTelemetry traces, for every deploy of this machine";

    package = lib.mkPackageOption pkgs "axiom-deploy-annotation" {
      extraDescription = "The flake's modules default it to the flake's own package.";
    };

    tokenPath = mkOption {
      type = absolutePath;
      default = "/run/secrets/axiom_token";
      example = "/run/agenix/axiom-token";
      description = ''
        File holding the Axiom API token (`xaat-…`) that may create annotations,
        or a personal token (`xapt-…`, then set `settings.orgId`). A string on
        purpose: the file stays out of the Nix store and may be readable by
        root only.
      '';
    };

    apiEndpoint = mkOption {
      type = url;
      default = "https://api.axiom.co/v2/annotations";
      example = "http://127.0.0.1:8080/v2/annotations";
      description = ''
        Axiom's annotations endpoint. Plain http is accepted for loopback hosts
        only.
      '';
    };

    datasets = mkOption {
      type = types.nonEmptyListOf (types.strMatching "[^[:space:]]+");
      default = [ "deployments" ];
      example = [
        "deployments"
        "http-logs"
      ];
      description = "Datasets the annotation is shown on.";
    };

    annotationType = mkOption {
      type = types.strMatching "[a-z0-9-]+";
      default = "nix-deploy";
      example = "production-deploy";
      description = ''
        The annotation's type: lowercase letters, digits and `-` only, as
        Axiom requires.
      '';
    };

    repositoryUrl = mkOption {
      type = types.nullOr (types.strMatching "(https?://|github:)[^[:space:]]+");
      default = null;
      example = "https://github.com/example/nix-config";
      description = ''
        Repository of the system configuration, as a URL or `github:owner/repo`.
        With the configuration's revision known (`system.configurationRevision`),
        the annotation links to that commit.
      '';
    };

    tracing = {
      enable = mkOption {
        type = types.bool;
        default = true;
        example = false;
        description = ''
          Whether to export OpenTelemetry traces of each run. Nothing is sent
          until `tracing.dataset` is set.
        '';
      };

      dataset = mkOption {
        type = types.nullOr (types.strMatching "[^[:space:]]+");
        default = null;
        example = "deploy-traces";
        description = ''
          An OpenTelemetry traces dataset to send each run's trace to. Null
          sends none.
        '';
      };

      endpoint = mkOption {
        type = url;
        default = "https://api.axiom.co/v1/traces";
        example = "https://eu-central-1.aws.edge.axiom.co/v1/traces";
        description = "OTLP/HTTP traces endpoint.";
      };

      tokenPath = mkOption {
        type = absolutePath;
        default = cfg.tokenPath;
        defaultText = literalExpression "config.services.axiom-deploy-annotation.tokenPath";
        example = "/run/secrets/axiom_ingest_token";
        description = ''
          File holding the token for trace ingest, when it is not the
          annotation token. A string, for the same reason as `tokenPath`.
        '';
      };
    };

    flush = {
      enable = mkOption {
        type = types.bool;
        default = true;
        example = false;
        description = ''
          Whether to retry, every `flush.interval`, the annotations that could
          not be delivered when they were made (`axiom-deploy-annotate flush`).
        '';
      };

      interval = mkOption {
        type = types.ints.between 60 86400;
        default = 900;
        example = 3600;
        description = "Seconds between retries of undelivered annotations.";
      };
    };

    settings = mkOption {
      type = types.submodule {
        freeformType = json.type;
        options = {
          timeout = mkOption {
            type = duration;
            default = "30s";
            example = "1m";
            description = ''
              Time limit for a whole run, as hours, minutes and seconds
              (`"90s"`, `"1m30s"`). The systemd service's own limit is a little
              above it.
            '';
          };

          hostname = mkOption {
            type = types.str;
            default = "";
            example = "web-1";
            description = "Host name the annotation names. Empty means the short host name.";
          };

          orgId = mkOption {
            type = types.str;
            default = "";
            example = "example-org-a1b2";
            description = "Axiom organisation ID, needed with a personal token (`xapt-…`) only.";
          };

          spoolLimit = mkOption {
            type = types.ints.positive;
            default = 100;
            example = 20;
            description = "Most undelivered annotations kept for `flush`; past it the oldest are dropped.";
          };
        };
      };
      default = { };
      example = {
        timeout = "1m";
        hostname = "web-1";
        spoolLimit = 20;
      };
      description = ''
        Further keys of the configuration file, written as JSON and checked
        with `axiom-deploy-annotate check-config` at build time; an unknown key
        fails the build. Keys that the options above own may not be set here.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = checked;
      defaultText = literalExpression "generated from the options above";
      description = "The checked configuration file the command is run with (`--config`).";
    };
  };
}
