# nix-darwin: annotate every activation from the activation script, every boot
# from a launchd daemon, and retry undelivered annotations from another.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.axiom-deploy-annotation;

  name = "axiom-deploy-annotation";
  label = "${config.launchd.labelPrefix}.${name}";
  log = "/var/log/${name}.log";
  stateDir = "/var/lib/${name}";

  # The daemons run as root and read the token files named in the
  # configuration file directly, so they may stay readable by root only.
  cli = import ./cli.nix {
    inherit pkgs;
    exe = lib.getExe cfg.package;
    inherit (cfg) configFile;
  };

  # The configured command of the system profile's generation.
  profile = config.system.profile;
  profileCommand = "${profile}/sw/bin/axiom-deploy-annotate";

  # Nix for the command's store queries: nix-darwin's own when it manages Nix,
  # else an installer's default profile. No store paths, so the boot daemon's
  # plist stays the same from one generation to the next.
  path = [
    "/run/current-system/sw/bin"
    "/nix/var/nix/profiles/default/bin"
    "/usr/bin"
    "/bin"
    "/usr/sbin"
    "/sbin"
  ];

  logs = {
    StandardOutPath = log;
    StandardErrorPath = log;
  };
in
{
  imports = [
    (import ./common.nix {
      inherit stateDir profile;
      defaultText.profile = lib.literalExpression "config.system.profile";
    })
  ];

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cli ];

    # launchd reloads a daemon only when its plist changed, and does so before
    # /run/current-system moves, so every activation starts the command
    # itself, naming the system being activated. In the background and
    # detached from every output the caller may wait on: darwin-rebuild (and
    # an ssh session around it) neither waits for it nor sees its status.
    system.activationScripts.postActivation.text = lib.mkAfter ''
      # ${name}: annotate the new generation in the background.
      /bin/mkdir -p -m 0700 ${stateDir} || true
      (
        exec </dev/null >>${log} 2>&1
        export PATH="$systemConfig/sw/bin:${lib.concatStringsSep ":" path}"
        exec /usr/bin/nohup ${lib.getExe cli} --current-system "$systemConfig"
      ) &
    '';

    # At boot nothing is activated: this daemon annotates the profile's
    # generation, which activate-system re-links as /run/current-system. Not
    # `script`, which would name a store path in the plist and reload the
    # daemon on rebuilds; the test skips a profile that lacks the command.
    launchd.daemons.${name} = {
      command = "/bin/sh -c ${lib.escapeShellArg "if [ -x ${profileCommand} ]; then exec ${profileCommand} --current-system ${profile}; fi"}";
      inherit path;
      serviceConfig = logs // {
        RunAtLoad = true;
        ProcessType = "Background";
      };
    };

    launchd.daemons."${name}-flush" = lib.mkIf cfg.flush.enable {
      command = "${lib.getExe cli} flush";
      inherit path;
      serviceConfig = logs // {
        StartInterval = cfg.flush.interval;
        ProcessType = "Background";
      };
    };

    # nix-darwin has no newsyslog option. Rotated past 1 MiB, five bzip2
    # copies kept; no process is signalled (N): each run opens the log anew.
    environment.etc."newsyslog.d/${label}.conf".text = ''
      # logfilename                 [owner:group]  mode  count  size(KB)  when  flags
      ${log}  root:wheel     640   5      1024      *     NJ
    '';
  };
}
