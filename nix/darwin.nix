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
  common = import ./common.nix { inherit config lib pkgs; };

  name = "axiom-deploy-annotation";
  label = "${config.launchd.labelPrefix}.${name}";
  log = "/var/log/${name}.log";

  # The daemons run as root and read the token files named in the
  # configuration file directly, so they may stay readable by root only.
  cli = pkgs.writeShellScriptBin "axiom-deploy-annotate" ''
    exec ${lib.getExe cfg.package} --config ${common.configFile} "$@"
  '';

  # The configured command of the system profile's generation.
  profile = config.system.profile;
  profileCommand = "${profile}/sw/bin/axiom-deploy-annotate";

  # Nix for the command's store queries: nix-darwin's own when it manages
  # Nix (it is on the system's PATH), else an installer's default profile.
  path = "/run/current-system/sw/bin:/nix/var/nix/profiles/default/bin:/usr/bin:/bin:/usr/sbin:/sbin";
in
{
  options.services.axiom-deploy-annotation = common.options;

  config = lib.mkIf cfg.enable {
    assertions = common.assertions;

    services.axiom-deploy-annotation.settings.profile = lib.mkDefault profile;

    environment.systemPackages = [ cli ];

    # How each deploy is annotated, and why not by the daemon alone:
    #
    # - launchd reloads a daemon during activation only when its plist text
    #   changed, so RunAtLoad alone misses most rebuilds; and it reloads it
    #   before /run/current-system moves, so a run reading that link then would
    #   see the previous generation.
    #
    # - So every activation (darwin-rebuild switch, --rollback, activate)
    #   starts the command from postActivation, naming the new system
    #   explicitly: $systemConfig is the system being activated, while
    #   /run/current-system still points at the old one. It runs in the
    #   background, detached from the terminal (nohup) and from every output
    #   the caller may wait on (stdin, stdout and stderr go to the log), so
    #   darwin-rebuild, and an ssh session around it, neither waits for it nor
    #   sees its status. Its own --timeout (settings.timeout) bounds it.
    #
    # - At boot nothing is activated: nix-darwin's activate-system daemon only
    #   points /run/current-system at the system profile again. This daemon's
    #   RunAtLoad covers that, reading the profile itself rather than racing
    #   that daemon for the link. Its plist names no store path, so activation
    #   reloads it only when this module changes its text (first of all when
    #   it is installed). darwin-rebuild sets the profile before activating,
    #   so such a run sees the new generation too, and the command's lock and
    #   state make the second of the two runs find it already annotated.
    system.activationScripts.postActivation.text = lib.mkAfter ''
      # ${name}: annotate the new generation in the background.
      /bin/mkdir -p -m 0700 ${common.stateDir} || true
      (
        exec </dev/null >>${log} 2>&1
        export PATH="$systemConfig/sw/bin:${path}"
        exec /usr/bin/nohup ${lib.getExe cli} --current-system "$systemConfig"
      ) &
    '';

    launchd.daemons.${name}.serviceConfig = {
      ProgramArguments = [
        "/bin/sh"
        "-c"
        "/bin/wait4path /nix/store && if [ -x ${profileCommand} ]; then exec ${profileCommand} --current-system ${profile}; fi"
      ];
      RunAtLoad = true;
      ProcessType = "Background";
      EnvironmentVariables.PATH = path;
      StandardOutPath = log;
      StandardErrorPath = log;
    };

    launchd.daemons."${name}-flush" = lib.mkIf cfg.flush.enable {
      # `command` waits for the Nix store to be mounted before running it.
      command = "${lib.getExe cli} flush";
      serviceConfig = {
        StartInterval = cfg.flush.interval;
        ProcessType = "Background";
        EnvironmentVariables.PATH = path;
        StandardOutPath = log;
        StandardErrorPath = log;
      };
    };

    # launchd appends to the log forever; newsyslog (run by launchd every
    # half hour) rotates it past 1 MiB, keeps five bzip2-compressed copies and
    # signals no process (N): each run opens the file anew.
    environment.etc."newsyslog.d/${label}.conf".text = ''
      # logfilename                 [owner:group]  mode  count  size(KB)  when  flags
      ${log}  root:wheel     640   5      1024      *     NJ
    '';
  };
}
