# The command on PATH, run with the module's configuration file. The command
# takes its mode first (`axiom-deploy-annotate flush --config …`), so a mode
# given to the wrapper goes before --config.
{
  pkgs,
  exe,
  configFile,
}:

pkgs.writeShellScriptBin "axiom-deploy-annotate" ''
  mode=
  case "''${1-}" in
    "" | -*) ;;
    *)
      mode=$1
      shift
      ;;
  esac
  exec ${exe} ''${mode:+"$mode"} --config ${configFile} "$@"
''
