# NixOS: annotate every switch, test and boot with a oneshot systemd service,
# and retry undelivered annotations from a timer.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.axiom-deploy-annotation;
  common = import ./common.nix { inherit config lib pkgs; };

  name = "axiom-deploy-annotation";
  exe = lib.getExe cfg.package;

  # The token files reach the command as systemd credentials: systemd reads
  # them as root and hands the service a private copy, so they may stay
  # readable by root only although the service runs as a dynamic user.
  credentials = [
    "token:${cfg.tokenPath}"
  ]
  ++ lib.optional common.tracesToken "traces-token:${cfg.tracing.tokenPath}";

  args = [
    "--config"
    common.configFile
    "--token-file"
    "%d/token"
  ]
  ++ lib.optionals common.tracesToken [
    "--traces-token-file"
    "%d/traces-token"
  ];

  # Shared by the annotation service and the flush service. Both score 1.2
  # ("OK") with `systemd-analyze security --offline=true` (systemd 252).
  serviceConfig = {
    Type = "oneshot";
    DynamicUser = true;
    LoadCredential = credentials;
    StateDirectory = name;
    StateDirectoryMode = "0700";
    # Nix commands reach the store through the daemon and want a writable
    # cache; see environment below.
    CacheDirectory = name;
    CacheDirectoryMode = "0700";
    UMask = "0077";

    # The command's own timeout bounds the run; this is the backstop.
    TimeoutStartSec = common.timeoutSeconds + 15;

    # Reads /run/current-system, /nix/var/nix/profiles and the store; writes
    # only its state and cache directories.
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    PrivateIPC = true;
    PrivateMounts = true;
    ProtectProc = "invisible";
    # Not ProcSubset=pid: it hides /proc/stat, where the garbage collector
    # in Nix's commands counts CPUs, and each run would log a warning.
    ProtectClock = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectControlGroups = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    RestrictSUIDSGID = true;
    RemoveIPC = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RestrictRealtime = true;
    RestrictNamespaces = true;
    DevicePolicy = "closed";
    # AF_UNIX for the Nix daemon's socket (and the name service), AF_INET and
    # AF_INET6 for Axiom.
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    SystemCallArchitectures = "native";
    # Not ~@resources: nix raises its stack limit with setrlimit and logs an
    # error when that is refused.
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    SystemCallErrorNumber = "EPERM";
  };

  environment = {
    XDG_CACHE_HOME = "/var/cache/${name}";
    HOME = "/var/cache/${name}";
    # Never fall back to a private store under HOME when the socket is
    # missing: fail, and say so.
    NIX_REMOTE = "daemon";
  };

  # On PATH for manual runs (`axiom-deploy-annotate --dry-run`,
  # `axiom-deploy-annotate flush`), with the service's configuration. Run as
  # root, the command reads the token files directly. Files it creates in the
  # state directory would then belong to root, and the service's dynamic user
  # could no longer write them: systemd only re-owns that directory when its
  # top is owned by someone else. So after the run their ownership goes back to
  # the directory's owner. A state directory that does not exist yet is made
  # by the command and taken over by systemd at the service's next start.
  cli = pkgs.writeShellScriptBin "axiom-deploy-annotate" ''
    status=0
    ${exe} --config ${common.configFile} "$@" || status=$?
    state=/var/lib/private/${name}
    if [ "$(${pkgs.coreutils}/bin/id -u)" = 0 ] && [ -d "$state" ]; then
      ${pkgs.coreutils}/bin/chown -R --reference="$state" "$state"
    fi
    exit "$status"
  '';
in
{
  options.services.axiom-deploy-annotation = common.options;

  config = lib.mkIf cfg.enable {
    assertions = common.assertions;

    environment.systemPackages = [ cli ];

    # switch-to-configuration starts every active target again, and starting
    # multi-user.target starts this inactive oneshot: so it runs at boot and
    # after every `switch` and `test` (and a rollback, which is a switch), each
    # time with /run/current-system already pointing at the new system.
    # `boot` activates nothing; its generation is annotated when it boots.
    # RemainAfterExit would make it run only when the unit's text changed.
    systemd.services.${name} = {
      description = "Axiom annotation for the running NixOS generation";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # Two switches in quick succession must not hit the start rate limit,
      # which would fail the second switch.
      startLimitIntervalSec = 0;
      # A missing token file is skipped (and logged) rather than failing the
      # credential setup, and with it the switch.
      unitConfig.ConditionPathExists = [
        cfg.tokenPath
      ]
      ++ lib.optional common.tracesToken cfg.tracing.tokenPath;
      path = [ config.nix.package ];
      inherit environment;
      serviceConfig = serviceConfig // {
        ExecStart = lib.escapeShellArgs ([ exe ] ++ args);
        # The switch waits for this unit, and a failed unit makes
        # switch-to-configuration exit 4, which deploy tools report as a
        # failed deploy and some answer with a rollback. The system is already
        # switched when this runs, so an annotation problem must not undo it.
        # Delivery trouble already exits 0 (the annotation is spooled for the
        # flush timer); the other statuses are counted as success too:
        # 1 internal error, 2 usage or configuration (a bad token file, or a
        # Go runtime panic), 3 not a NixOS system, 4 state directory
        # unusable. Each still logs its one-line reason to the journal, and
        # the flush service below, which no switch waits for, does fail
        # visibly. A run killed at TimeoutStartSec still fails: that is a
        # hang, and it has been bounded.
        SuccessExitStatus = [
          1
          2
          3
          4
        ];
      };
    };

    systemd.services."${name}-flush" = lib.mkIf cfg.flush.enable {
      description = "Delivery of spooled Axiom deploy annotations";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      unitConfig.ConditionPathExists = [
        cfg.tokenPath
      ]
      ++ lib.optional common.tracesToken cfg.tracing.tokenPath;
      inherit environment;
      serviceConfig = serviceConfig // {
        ExecStart = lib.escapeShellArgs ([ exe "flush" ] ++ args);
      };
    };

    # A monotonic timer: OnBootSec gives the catch-up after downtime that
    # Persistent= gives calendar timers (which cannot express an interval in
    # seconds), and the random delay keeps a fleet from retrying in step.
    systemd.timers."${name}-flush" = lib.mkIf cfg.flush.enable {
      description = "Periodic delivery of spooled Axiom deploy annotations";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "${toString cfg.flush.interval}s";
        OnUnitActiveSec = "${toString cfg.flush.interval}s";
        RandomizedDelaySec = "60s";
      };
    };
  };
}
