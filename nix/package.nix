{
  lib,
  go,
  buildGoModule,
  # Absent from nixpkgs older than Go 1.26, and from those that no longer
  # carry it once their default Go is newer.
  buildGo126Module ? null,
}:

let
  # go.mod's go line.
  minimumGo = "1.26";
  build =
    if lib.versionAtLeast go.version minimumGo then
      buildGoModule
    else if buildGo126Module != null then
      buildGo126Module
    else
      throw "axiom-deploy-annotation needs Go ${minimumGo} or newer, but this nixpkgs has Go ${go.version} and no buildGo126Module: use nixpkgs-unstable from May 2026 or later, or any nixpkgs whose Go is ${minimumGo} or newer.";
in
build (finalAttrs: {
  pname = "axiom-deploy-annotation";
  version = "0.1.0";

  # Only what `go build` and `go mod vendor` read, so editing the Nix files or
  # the documentation does not rebuild the package. A local, untracked vendor/
  # is left out: buildGoModule makes its own from vendorHash.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.difference (lib.fileset.unions [
      ../go.mod
      ../go.sum
      (lib.fileset.fileFilter (file: file.hasExt "go") ../.)
    ]) (lib.fileset.maybeMissing ../vendor);
  };

  # The NAR hash of the vendor/ folder `go mod vendor` makes. nix/nix_test.go
  # recomputes it from go.mod and go.sum and fails when this line is stale.
  vendorHash = "sha256-4KT1CyMlF+ZhOcNR/M9DoFtNMTvg9ySmyDQVQNGmcKQ=";

  subPackages = [ "cmd/axiom-deploy-annotate" ];

  # A static binary: it runs under systemd's and launchd's minimal
  # environments and in the build-time config check without a C toolchain.
  env.CGO_ENABLED = 0;

  ldflags = [
    "-s"
    "-w"
    "-X main.version=${finalAttrs.version}"
  ];

  # The tests build real Nix store paths and generations with nix-build and
  # nix-env, which the build sandbox has neither the binaries nor a store for.
  # They run in CI with `go test ./...` instead.
  doCheck = false;

  meta = {
    description = "Post an Axiom annotation and OpenTelemetry traces for every NixOS or nix-darwin deploy";
    homepage = "https://github.com/bdsqqq/axiom-deploy-annotation";
    license = lib.licenses.mit;
    mainProgram = "axiom-deploy-annotate";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
})
