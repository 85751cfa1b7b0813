# NixOS: annotate every switch, test and boot from a oneshot service, and
# retry undelivered annotations from a timer.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.axiom-deploy-annotation;
  inherit (cfg) settings;

  name = "axiom-deploy-annotation";
  exe = lib.getExe cfg.package;
  stateDir = "/var/lib/${name}";

  # Whether trace ingest reads a token file of its own.
  separateToken =
    cfg.tracing.enable
    && settings.tracesTokenFile != null
    && settings.tracesTokenFile != settings.tokenFile;

  # The token files reach the command as systemd credentials: systemd reads
  # them as root and hands the service a private copy, so they may stay
  # readable by root only although the service runs as a user of its own.
  credentials = [
    "token:${settings.tokenFile}"
  ]
  ++ lib.optional separateToken "traces-token:${settings.tracesTokenFile}";

  args = [
    "--config"
    cfg.configFile
    "--token-file"
    "%d/token"
  ]
  ++ lib.optionals separateToken [
    "--traces-token-file"
    "%d/traces-token"
  ];

  # The delivering service's unit: network, token and Nix. The record
  # service needs none of them. With serviceConfig below,
  # `systemd-analyze security` (systemd 252, offline and in the running
  # manager alike) scores the record service 0.5 ("SAFE") and the flush
  # service 1.2 ("OK"); nix/systemd_nix_test.go measures it.
  service = {
    wants = [ "network-online.target" ];
    after = [ "network-online.target" ];
    # A missing token file skips the run (logged as an unmet condition)
    # rather than failing the credential setup.
    unitConfig.ConditionPathExists = [
      settings.tokenFile
    ]
    ++ lib.optional separateToken settings.tracesTokenFile;
    path = [ config.nix.package ];
    environment = {
      XDG_CACHE_HOME = "/var/cache/${name}";
      HOME = "/var/cache/${name}";
      # Never fall back to a private store under HOME when the socket is
      # missing: fail, and say so.
      NIX_REMOTE = "daemon";
    };
  };

  # switch-to-configuration reports a failed deploy (exit 4) while any unit
  # on the machine is failed, even one it did not start. The command's own
  # failures (1 internal, 2 usage or configuration, 3 not a NixOS system,
  # 4 state directory unusable) are logged and traced instead, and so are
  # those of systemd setting up the state or cache directory (238
  # STATE_DIRECTORY, 239 CACHE_DIRECTORY: a file where the directory goes)
  # before the command runs: the unit ends inactive, the journal says
  # "Failed at step STATE_DIRECTORY" (measured with systemd 252). Left
  # failed: a run killed at TimeoutStartSec (a hang), and a unit systemd
  # cannot set up for reasons no deploy of ours causes (its sandbox, say).
  successExitStatus = [
    1
    2
    3
    4
    238
    239
  ];

  # Shared by both services.
  serviceConfig = {
    Type = "oneshot";
    SuccessExitStatus = successExitStatus;
    # The command's own timeout bounds the run; this is the backstop.
    TimeoutStartSec = (import ./duration.nix lib).seconds settings.timeout + 15;

    # One system user for both services, so neither loses write access to
    # the state the other made. Not DynamicUser: the flush asks systemd
    # which units a switch left failed, and the bus refuses a dynamic
    # user's connection ("Transport endpoint is not connected", systemd
    # 250.4 and later: the bus cannot resolve the user). systemd moves a
    # state directory a DynamicUser made (/var/lib/private/NAME) back to
    # /var/lib/NAME and gives it to this user.
    User = name;
    Group = name;
    LoadCredential = credentials;
    StateDirectory = lib.removePrefix "/var/lib/" stateDir;
    StateDirectoryMode = "0700";
    # Nix commands reach the store through the daemon and want a writable
    # cache (see environment).
    CacheDirectory = name;
    CacheDirectoryMode = "0700";
    UMask = "0077";

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
    # Not ProcSubset=pid: it hides /proc/stat, where Nix's garbage collector
    # counts CPUs, and each run would log a warning.
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

  # On PATH for manual runs, with the services' configuration. Run as root, it
  # reads the token files directly, and what it creates in the state
  # directory belongs to the directory's owner, the services' user.
  cli = import ./cli.nix {
    inherit pkgs exe;
    inherit (cfg) configFile;
  };
in
{
  imports = [ (import ./common.nix { inherit stateDir; }) ];

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cli ];

    users.users.${name} = {
      isSystemUser = true;
      group = name;
      description = "Axiom deploy annotation";
    };
    users.groups.${name} = { };

    # Starting multi-user.target starts this inactive oneshot, so it runs at
    # boot and after every `switch` and `test`, with /run/current-system
    # already moved. RemainAfterExit would make it run only when its unit text
    # changed. What a switch waits for: multi-user.target is ordered after
    # this oneshot, so it only records the deploy (no network, no diff, no
    # trace export; milliseconds). OnSuccess= then starts the delivery as a
    # job of its own, outside the switch's transaction, so no switch waits
    # for Axiom. Exit statuses 1-4 count as success, so a failed record
    # still triggers a delivery of what is spooled.
    systemd.services.${name} = {
      description = "Record of the running NixOS generation for Axiom";
      wantedBy = [ "multi-user.target" ];
      # Two switches in quick succession must not hit the start rate limit.
      startLimitIntervalSec = 0;
      unitConfig.OnSuccess = [ "${name}-flush.service" ];
      serviceConfig = builtins.removeAttrs serviceConfig [ "LoadCredential" ] // {
        ExecStart = lib.escapeShellArgs [
          exe
          "record"
          "--config"
          cfg.configFile
        ];
        # Recording reads the system and writes the state directory only.
        PrivateNetwork = true;
        RestrictAddressFamilies = [ "AF_UNIX" ];
      };
    };

    # Delivers what is spooled: after each record, and from the timer.
    systemd.services."${name}-flush" = service // {
      description = "Delivery of spooled Axiom deploy annotations";
      # Every record starts it: without this, six switches within ten
      # seconds (starts skipped for want of a token count too) would leave
      # it failed (start-limit-hit), and every switch after exit 4.
      startLimitIntervalSec = 0;
      serviceConfig = serviceConfig // {
        # 243 CREDENTIALS: systemd could not load the token (over 1 MiB,
        # say) before the command could say so.
        SuccessExitStatus = successExitStatus ++ [ 243 ];
        ExecStart = lib.escapeShellArgs (
          [
            exe
            "flush"
          ]
          ++ args
        );
      };
    };

    # Monotonic: OnBootSec gives the catch-up after downtime that Persistent=
    # gives calendar timers, and the random delay keeps a fleet out of step.
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
