# The options nixos.nix, darwin.nix and home-manager.nix share, and the
# configuration file the command reads with --config: `settings`, written as
# it is. Each key of the file is one option under settings.
#
# A function of the scope, which says whose deploys are annotated and where
# things live; the defaults are the system's (NixOS, nix-darwin).
{
  # "system", or "home-manager" for a user's Home Manager generations. The
  # file names the scope only where it is not the command's default.
  kind ? "system",
  # The command's state directory, fixed by the platform module.
  stateDir ? "/var/lib/axiom-deploy-annotation",
  # The profile whose generations are deployed: settings.profile's default.
  profile ? "/nix/var/nix/profiles/system",
  # Where the active generation is linked, when not at /run/current-system.
  currentSystem ? null,
  # settings.tokenFile's default.
  tokenFile ? "/run/secrets/axiom_token",
  # How the manual shows the defaults above that the platform module derives
  # from its own options, by option name (lib.literalExpression).
  defaultText ? { },
}:

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
  user = kind == "home-manager";
  deploys = if user then "Home Manager generation" else "deploy of this machine";

  url = types.strMatching "https?://[^[:space:]]+";

  # A string, never a Nix path: a path value would be copied into the world
  # readable store, secret and all.
  absolutePath = types.strMatching "/.+";

  name = types.strMatching "[^[:space:]]+";

  # What the command takes as a repository (annotator.repositoryBase): an
  # http(s) URL without user, query or fragment, or a flake reference to a
  # forge it knows. nix/repository_test.go keeps the two in step.
  repository = types.strMatching (
    "https?://[A-Za-z0-9.-]+(:[0-9]+)?/[^[:space:][:cntrl:]?#%]+"
    + "|(github|gitlab|sourcehut):[^[:space:][:cntrl:]?#%]+"
  );

  # An option whose default the platform module derives, with its manual text.
  derived = n: o: o // lib.optionalAttrs (defaultText ? ${n}) { defaultText = defaultText.${n}; };

  # A key whose option is null is not written: the command's default holds.
  unchecked = json.generate "axiom-deploy-annotation.json" (
    lib.filterAttrs (_: v: v != null) cfg.settings
  );

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

  # The names these settings had as options of their own, before they moved
  # into settings: still accepted, with a warning naming the new one. Home
  # Manager never had them.
  renamed =
    lib.mapAttrsToList
      (
        from: to:
        lib.mkRenamedOptionModule ([ "services" "axiom-deploy-annotation" ] ++ lib.splitString "." from) [
          "services"
          "axiom-deploy-annotation"
          "settings"
          to
        ]
      )
      {
        tokenPath = "tokenFile";
        apiEndpoint = "apiEndpoint";
        datasets = "datasets";
        annotationType = "type";
        repositoryUrl = "repositoryUrl";
        environment = "environment";
        annotate = "annotate";
        "tracing.dataset" = "tracesDataset";
        "tracing.endpoint" = "tracesEndpoint";
        "tracing.tokenPath" = "tracesTokenFile";
      };

  # The keys of the configuration file the module knows, as options of
  # settings. `stateDir` (and `scope` and `currentSystem` where they are not
  # the command's defaults) come from the scope, not from an option.
  settingsOptions = {
    tokenFile = derived "tokenFile" (mkOption {
      type = absolutePath;
      default = tokenFile;
      example = if user then "/run/user/1000/agenix/axiom-token" else "/run/agenix/axiom-token";
      description = ''
        File holding the Axiom API token (`xaat-…`) that may create and read
        annotations, or a personal token (`xapt-…`, then set
        {option}`${opt}.settings.orgId`). A string on purpose: the file stays
        out of the Nix store${
          if user then
            ", and must be readable by you: the command runs as you."
          else
            " and may be readable by root only."
        }
      '';
    });

    apiEndpoint = mkOption {
      type = url;
      default = "https://api.axiom.co/v2/annotations";
      example = "http://127.0.0.1:8080/v2/annotations";
      description = "Axiom's annotations endpoint. Plain http is accepted for loopback hosts only.";
    };

    datasets = mkOption {
      type = types.nonEmptyListOf name;
      default = [ "deployments" ];
      example = [
        "deployments"
        "http-logs"
      ];
      description = "Datasets the annotation is shown on.";
    };

    type = mkOption {
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
        Repository of the configuration: an `https://` URL, or
        `github:owner/repo`, `gitlab:owner/repo` or `sourcehut:~owner/repo`.
        With the configuration's revision known (${
          if user then
            "{option}`${opt}.settings.revision`"
          else
            "{option}`system.configurationRevision`"
        }), the annotation links to that commit. Null links none.
      '';
    };

    environment = mkOption {
      type = types.nullOr name;
      default = null;
      example = "production";
      description = ''
        The environment this ${
          if user then "user's machine" else "machine"
        } belongs to, sent with each trace as `deployment.environment.name`.
        Null sends none.
      '';
    };

    annotate = mkEnableOption "the annotation of each ${deploys}. Without it a deploy is still recorded and traced, but no annotation is sent: for fleets where one rollout annotation is the line on the charts" // {
      default = true;
    };

    tracesEndpoint = mkOption {
      type = types.strMatching "(https?://[^[:space:]]+)?";
      default = "https://api.axiom.co/v1/traces";
      example = "https://eu-central-1.aws.edge.axiom.co/v1/traces";
      description = ''
        OTLP/HTTP traces endpoint; `""` exports nothing (what
        {option}`${opt}.tracing.enable` = false writes).
      '';
    };

    tracesDataset = mkOption {
      type = types.nullOr name;
      default = null;
      example = "deploy-traces";
      description = ''
        An OpenTelemetry traces dataset to send each run's trace to. Null sends
        none to Axiom (another endpoint, a collector, needs none).
      '';
    };

    tracesTokenFile = mkOption {
      type = types.nullOr absolutePath;
      default = null;
      example = "/run/secrets/axiom_ingest_token";
      description = ''
        File holding the token for trace ingest, when it is not the
        annotation token (null). A string, for the same reason as
        {option}`${opt}.settings.tokenFile`.
      '';
    };

    timeout = mkOption {
      type = (import ./duration.nix lib).type;
      default = "30s";
      example = "1m";
      description = ''
        Time limit for a whole run, as hours, minutes and seconds (`"90s"`,
        `"1m30s"`). The services' own limit is a little above it.
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

    profile = derived "profile" (mkOption {
      type = absolutePath;
      default = profile;
      example =
        if user then "/nix/var/nix/profiles/per-user/alice/home-manager" else "/nix/var/nix/profiles/system";
      description = ''
        The profile whose generations are annotated.${
          lib.optionalString user " Home Manager installs from before Nix 2.14 keep it under /nix/var/nix/profiles/per-user/$USER."
        }
      '';
    });

    commitTime = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      example = literalExpression "self.lastModified";
      description = ''
        When the configuration's revision was committed, in Unix seconds:
        from a flake, `self.lastModified`. Each deploy's spans then carry
        it and the lead time from it to the deploy (`deploy.commit_time`,
        `deploy.lead_time`). More than a day ahead of the build's clock
        fails the build. Null: unknown, no lead time.
      '';
    };
  }
  // lib.optionalAttrs user {
    revision = mkOption {
      type = types.nullOr (types.strMatching "[0-9a-f]{7,64}(-dirty)?");
      default = null;
      example = literalExpression "self.rev or self.dirtyRev or null";
      description = ''
        The revision of the configuration this generation is built from,
        which a Home Manager generation does not carry itself: from a flake,
        `self.rev or self.dirtyRev or null`. Null names none.
      '';
    };
  };
in
{
  imports = lib.optionals (kind == "system") renamed;

  options.services.axiom-deploy-annotation = {
    enable = mkEnableOption "an Axiom annotation, and OpenTelemetry traces, for every ${deploys}";

    package = lib.mkPackageOption pkgs "axiom-deploy-annotation" {
      extraDescription = "The flake's modules default it to the flake's own package.";
    };

    tracing.enable = mkEnableOption "an OpenTelemetry trace of each run, sent to Axiom once {option}`${opt}.settings.tracesDataset` is set (another endpoint, a collector, needs none). Off, it writes `tracesEndpoint = \"\"`" // {
      default = true;
    };

    flush = {
      enable = mkEnableOption "retries, every {option}`${opt}.flush.interval`, of the annotations that could not be delivered when they were made (`axiom-deploy-annotate flush` from a timer; the delivery after each ${
        if user then "activation" else "switch on NixOS"
      } runs either way)" // {
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
        options = settingsOptions;
      };
      default = { };
      example = {
        datasets = [ "deployments" ];
        repositoryUrl = "github:example/nix-config";
        tracesDataset = "deploy-traces";
        timeout = "1m";
      };
      description = ''
        The configuration file, written as JSON (a null value is left out)
        and checked with `axiom-deploy-annotate check-config` at build time:
        an unknown key fails the build. Keys are those of the command's
        `--config` file. The module sets `stateDir` (${
          if user then "a directory under `$XDG_STATE_HOME`" else "its services' state directory"
        })${lib.optionalString user ", `scope` and `currentSystem`"}.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = checked;
      defaultText = literalMD "generated from {option}`${opt}.settings`, and checked with `axiom-deploy-annotate check-config`";
      description = "The configuration file the command is run with (`--config`).";
    };
  };

  config.services.axiom-deploy-annotation.settings = lib.mkMerge [
    # A definition, not a default: another value fails the evaluation, as
    # the platform module relies on this directory.
    { inherit stateDir; }
    (lib.mkIf (!cfg.tracing.enable) { tracesEndpoint = lib.mkForce ""; })
    (lib.optionalAttrs (kind != "system") { scope = kind; })
    (lib.optionalAttrs (currentSystem != null) { currentSystem = lib.mkDefault currentSystem; })
  ];

  meta.maintainers = [ ];
}
