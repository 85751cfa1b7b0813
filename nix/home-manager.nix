# Home Manager: record every activation of a Home Manager generation, and
# deliver it after the activation from a user service and timer (Linux) or
# a launchd agent (darwin). The command runs as the user, with state under
# $XDG_STATE_HOME.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.axiom-deploy-annotation;
  inherit (cfg) settings;
  inherit (config.xdg) stateHome;
  inherit (pkgs.stdenv.hostPlatform) isDarwin isLinux;

  name = "axiom-deploy-annotation";
  flush = "${name}-flush";
  exe = lib.getExe cfg.package;
  timeout = "${pkgs.coreutils}/bin/timeout";

  # Nix for the command's store queries, wherever this user's Nix came from:
  # Home Manager's own, the user's profile, NixOS or nix-darwin, an
  # installer's default profile, the distribution.
  path = lib.concatStringsSep ":" (
    lib.optional (config.nix.package != null) "${config.nix.package}/bin"
    ++ [
      "${config.home.profileDirectory}/bin"
      "/run/current-system/sw/bin"
      "/nix/var/nix/profiles/default/bin"
      "/usr/local/bin"
      "/usr/bin"
      "/bin"
    ]
  );

  cli = import ./cli.nix {
    inherit pkgs exe;
    inherit (cfg) configFile;
  };

  # What a switch waits for at most when the record hangs; a record takes
  # milliseconds.
  recordSeconds = 10;

  # A dry run (`home-manager switch -n`) activates nothing, and records
  # nothing either.
  unlessDryRun = text: ''
    if [[ ! -v DRY_RUN ]]; then
    ${text}
    fi
  '';

  log = "${config.home.homeDirectory}/Library/Logs/${name}.log";
  label = config.launchd.agents.${flush}.config.Label;
in
{
  imports = [
    (import ./common.nix {
      kind = "home-manager";
      stateDir = "${stateHome}/${name}";
      profile = "${stateHome}/nix/profiles/home-manager";
      currentSystem = "${stateHome}/home-manager/gcroots/current-home";
      tokenFile = "${config.xdg.configHome}/${name}/token";
      defaultText = {
        profile = lib.literalExpression ''"''${config.xdg.stateHome}/nix/profiles/home-manager"'';
        tokenFile = lib.literalExpression ''"''${config.xdg.configHome}/${name}/token"'';
      };
    })
  ];

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        home.packages = [ cli ];

        # After writeBoundary the profile holds the new generation's link.
        # Only the record runs here (no network, no closure diff, no token):
        # bounded, and never failing the activation.
        home.activation.${name} = lib.hm.dag.entryAfter [ "writeBoundary" ] (unlessDryRun ''
          PATH=${lib.escapeShellArg path}:"$PATH" ${timeout} --kill-after=2 ${toString recordSeconds} \
            ${exe} record --config ${cfg.configFile} --current-system "$newGenPath" || true
        '');
      }

      (lib.mkIf isLinux {
        # Delivers what is spooled: after each activation, and from the
        # timer. Exit statuses 1-4 count as success, as on NixOS: the
        # command's own failures are logged, and no unit of ours is left
        # failed.
        systemd.user.services.${flush} = {
          Unit = {
            Description = "Delivery of spooled Axiom deploy annotations";
            # Started by every activation and by the timer: never rate
            # limited.
            StartLimitIntervalSec = 0;
          };
          Service = {
            Type = "oneshot";
            ExecStart = lib.escapeShellArgs [
              exe
              "flush"
              "--config"
              cfg.configFile
            ];
            Environment = [ "PATH=${path}" ];
            SuccessExitStatus = "1 2 3 4";
            # The command's own timeout bounds the run; this is the backstop.
            TimeoutStartSec = (import ./duration.nix lib).seconds settings.timeout + 15;
            UMask = "0077";
            NoNewPrivileges = true;
          };
        };

        systemd.user.timers.${flush} = lib.mkIf cfg.flush.enable {
          Unit.Description = "Periodic delivery of spooled Axiom deploy annotations";
          Timer = {
            OnStartupSec = "${toString cfg.flush.interval}s";
            OnUnitActiveSec = "${toString cfg.flush.interval}s";
            RandomizedDelaySec = "60s";
          };
          Install.WantedBy = [ "timers.target" ];
        };

        # Once Home Manager has loaded the new generation's units, start the
        # delivery as a job of its own: no activation waits for Axiom. Run
        # by the NixOS module's service, the activation may have no user
        # manager to talk to; the timer delivers then.
        home.activation."${name}-deliver" = lib.hm.dag.entryAfter [ "reloadSystemd" name ] (unlessDryRun ''
          XDG_RUNTIME_DIR=''${XDG_RUNTIME_DIR:-/run/user/$UID} ${timeout} 5 \
            ${config.systemd.user.systemctlPath} --user start --no-block ${flush}.service \
            || echo "${name}: ${flush}.service not started; what is recorded stays spooled" >&2
        '');
      })

      (lib.mkIf isDarwin {
        # Started after each activation, and every flush.interval seconds.
        launchd.agents.${flush} = {
          enable = true;
          config = {
            ProgramArguments = [
              exe
              "flush"
              "--config"
              cfg.configFile
            ];
            EnvironmentVariables.PATH = path;
            ProcessType = "Background";
            StandardOutPath = log;
            StandardErrorPath = log;
          }
          // lib.optionalAttrs cfg.flush.enable { StartInterval = cfg.flush.interval; };
        };

        # After Home Manager has (re)loaded the agents; kickstart starts the
        # agent's run and returns.
        home.activation."${name}-deliver" = lib.hm.dag.entryAfter [ "setupLaunchAgents" name ] (unlessDryRun ''
          ${timeout} 5 /bin/launchctl kickstart "gui/$UID/${label}" \
            || echo "${name}: ${label} not started; what is recorded stays spooled" >&2
        '');
      })
    ]
  );
}
