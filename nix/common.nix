# The options nixos.nix and darwin.nix share, their checks, and the
# configuration file the command reads with --config.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    literalExpression
    literalMD
    mkEnableOption
    mkOption
    types
    ;

  cfg = config.services.axiom-deploy-annotation;
  opt = "services.axiom-deploy-annotation";
  json = pkgs.formats.json { };

  url = types.strMatching "https?://[^[:space:]]+";

  # A string, never a Nix path: a path value would be copied into the world
  # readable store, secret and all.
  absolutePath = types.strMatching "/.+";

  # What the command takes as a repository (annotator.repositoryBase): an
  # http(s) URL without user, query or fragment, or a flake reference to a
  # forge it knows. nix/repository_test.go keeps the two in step.
  repository = types.strMatching (
    "https?://[A-Za-z0-9.-]+(:[0-9]+)?/[^[:space:][:cntrl:]?#%]+"
    + "|(github|gitlab|sourcehut):[^[:space:][:cntrl:]?#%]+"
  );

  # Go durations limited to whole hours, minutes and seconds ("45s", "1m30s"),
  # so Nix can derive the service's own time limit from the same value.
  durationPattern = "(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?";
  durationSeconds =
    d:
    let
      m = builtins.match durationPattern d;
      part = i: if builtins.elemAt m i == null then 0 else lib.toIntBase10 (builtins.elemAt m i);
    in
    3600 * part 1 + 60 * part 3 + part 5;
  duration = types.addCheck (types.strMatching durationPattern) (d: d != "" && durationSeconds d > 0);

  # The keys the options own, and what to use instead of setting them in
  # settings. environment and annotate are written only when they differ
  # from the command's defaults.
  owned = {
    stateDir = cfg.stateDir;
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
    tracesTokenFile = if cfg.tracing.separateToken then cfg.tracing.tokenPath else "";
  }
  // lib.optionalAttrs (cfg.environment != null) { inherit (cfg) environment; }
  // lib.optionalAttrs (!cfg.annotate) { annotate = false; };

  ownedBy = {
    stateDir = "the state directory is fixed at ${cfg.stateDir}";
    tokenFile = "use ${opt}.tokenPath";
    apiEndpoint = "use ${opt}.apiEndpoint";
    datasets = "use ${opt}.datasets";
    type = "use ${opt}.annotationType";
    repositoryUrl = "use ${opt}.repositoryUrl";
    tracesEndpoint = "use ${opt}.tracing.endpoint or ${opt}.tracing.enable";
    tracesDataset = "use ${opt}.tracing.dataset";
    tracesTokenFile = "use ${opt}.tracing.tokenPath";
    environment = "use ${opt}.environment";
    annotate = "use ${opt}.annotate";
  };

  unchecked = json.generate "axiom-deploy-annotation.json" (cfg.settings // owned);

  # The command's own check, at build time, so a bad setting fails the build
  # rather than the deploy. It reads no token and touches neither the network
  # nor the store. A cross build, which cannot run the target's binary, uses
  # the file unchecked.
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
  options.services.axiom-deploy-annotation = {
    enable = mkEnableOption "an Axiom annotation, and OpenTelemetry traces, for every deploy of this machine";

    package = lib.mkPackageOption pkgs "axiom-deploy-annotation" {
      extraDescription = "The flake's modules default it to the flake's own package.";
    };

    tokenPath = mkOption {
      type = absolutePath;
      default = "/run/secrets/axiom_token";
      example = "/run/agenix/axiom-token";
      description = ''
        File holding the Axiom API token (`xaat-…`) that may create and read
        annotations, or a personal token (`xapt-…`, then set
        {option}`${opt}.settings.orgId`). A string on purpose: the file stays
        out of the Nix store and may be readable by root only.
      '';
    };

    apiEndpoint = mkOption {
      type = url;
      default = "https://api.axiom.co/v2/annotations";
      example = "http://127.0.0.1:8080/v2/annotations";
      description = "Axiom's annotations endpoint. Plain http is accepted for loopback hosts only.";
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
      description = "The annotation's type: lowercase letters, digits and `-` only, as Axiom requires.";
    };

    repositoryUrl = mkOption {
      type = types.nullOr repository;
      default = null;
      example = "github:example/nix-config";
      description = ''
        Repository of the system configuration: an `https://` URL, or
        `github:owner/repo`, `gitlab:owner/repo` or `sourcehut:~owner/repo`.
        With the configuration's revision known
        ({option}`system.configurationRevision`), the annotation links to that
        commit.
      '';
    };

    environment = mkOption {
      type = types.nullOr (types.strMatching "[^[:space:]]+");
      default = null;
      example = "production";
      description = ''
        The environment this machine belongs to, sent with each trace as
        `deployment.environment.name`. Null sends none.
      '';
    };

    annotate = mkEnableOption "the annotation of each deploy. Without it a deploy is still recorded and traced, but no annotation is sent: for fleets where one rollout annotation is the line on the charts" // {
      default = true;
    };

    tracing = {
      enable = mkEnableOption "an OpenTelemetry trace of each run, sent to Axiom once {option}`${opt}.tracing.dataset` is set (another endpoint, a collector, needs none)" // {
        default = true;
      };

      dataset = mkOption {
        type = types.nullOr (types.strMatching "[^[:space:]]+");
        default = null;
        example = "deploy-traces";
        description = "An OpenTelemetry traces dataset to send each run's trace to. Null sends none.";
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
        defaultText = literalExpression "config.${opt}.tokenPath";
        example = "/run/secrets/axiom_ingest_token";
        description = ''
          File holding the token for trace ingest, when it is not the
          annotation token. A string, for the same reason as
          {option}`${opt}.tokenPath`.
        '';
      };

      separateToken = mkOption {
        type = types.bool;
        internal = true;
        visible = false;
        readOnly = true;
        default = cfg.tracing.enable && cfg.tracing.tokenPath != cfg.tokenPath;
        defaultText = literalMD "whether traces are sent with a token of their own";
        description = "Whether trace ingest reads a token file of its own.";
      };
    };

    flush = {
      enable = mkEnableOption "retries, every {option}`${opt}.flush.interval`, of the annotations that could not be delivered when they were made (`axiom-deploy-annotate flush` from a timer; on NixOS the delivery after each switch runs either way)" // {
        default = true;
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
              (`"90s"`, `"1m30s"`). The systemd service's own limit is a
              little above it.
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
      defaultText = literalMD "generated from the options above, and checked with `axiom-deploy-annotate check-config`";
      description = "The configuration file the command is run with (`--config`).";
    };

    stateDir = mkOption {
      type = types.str;
      internal = true;
      visible = false;
      readOnly = true;
      default = "/var/lib/axiom-deploy-annotation";
      description = "Where the command keeps its state, spool and lock; on NixOS the services' state directory.";
    };

    timeoutSeconds = mkOption {
      type = types.ints.positive;
      internal = true;
      visible = false;
      readOnly = true;
      default = durationSeconds cfg.settings.timeout;
      defaultText = literalMD "{option}`${opt}.settings.timeout` in seconds";
      description = "The run's time limit in seconds, for the platform's own limit above it.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = lib.mapAttrsToList (key: instead: {
      assertion = !(cfg.settings ? ${key});
      message = "${opt}.settings.${key} is set by the module; ${instead}.";
    }) ownedBy;
  };

  meta.maintainers = [ ];
}
