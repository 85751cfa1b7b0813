# The command on PATH, run with the module's configuration file. The command
# takes its mode first (`axiom-deploy-annotate flush --config …`), so a mode
# given to the wrapper goes before --config. With after, the wrapper runs
# that shell text once the command has ended, and exits with its status.
{
  pkgs,
  exe,
  configFile,
  after ? "",
}:

let
  command = ''${exe} ''${mode:+"$mode"} --config ${configFile} "$@"'';
in
pkgs.writeShellScriptBin "axiom-deploy-annotate" ''
  mode=
  case "''${1-}" in
    "" | -*) ;;
    *)
      mode=$1
      shift
      ;;
  esac
  ${
    if after == "" then
      "exec ${command}"
    else
      ''
        status=0
        ${command} || status=$?
        ${after}
        exit "$status"
      ''
  }
''
