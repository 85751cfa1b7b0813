{
  description = "Axiom annotations and OpenTelemetry traces for every NixOS and nix-darwin deploy";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The modules take the package from the system's (or Home Manager's)
      # own nixpkgs (with its overlays, and cross-compiled where the system
      # is), built from this flake's source. The key makes importing both
      # names harmless.
      withPackage = name: module: {
        key = "github:bdsqqq/axiom-deploy-annotation#${name}";
        _file = ./flake.nix;
        imports = [
          module
          (
            { pkgs, ... }:
            {
              services.axiom-deploy-annotation.package = lib.mkDefault (pkgs.callPackage ./nix/package.nix { });
            }
          )
        ];
      };
    in
    {
      packages = forAllSystems (pkgs: rec {
        axiom-deploy-annotation = pkgs.callPackage ./nix/package.nix { };
        default = axiom-deploy-annotation;
      });

      overlays.default = final: prev: {
        axiom-deploy-annotation = final.callPackage ./nix/package.nix { };
      };

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          meta.description = "Annotate the running system's deploy in Axiom";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.go
            pkgs.gopls
            pkgs.nix
            pkgs.nixfmt
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      nixosModules = {
        default = self.nixosModules.axiom-deploy-annotation;
        axiom-deploy-annotation = withPackage "nixosModules.axiom-deploy-annotation" ./nix/nixos.nix;
      };

      darwinModules = {
        default = self.darwinModules.axiom-deploy-annotation;
        axiom-deploy-annotation = withPackage "darwinModules.axiom-deploy-annotation" ./nix/darwin.nix;
      };

      homeManagerModules = {
        default = self.homeManagerModules.axiom-deploy-annotation;
        axiom-deploy-annotation = withPackage "homeManagerModules.axiom-deploy-annotation" ./nix/home-manager.nix;
      };

      checks = forAllSystems (
        pkgs:
        {
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        }
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          nixos = pkgs.testers.runNixOSTest {
            imports = [ ./nix/vm-test.nix ];
            defaults.imports = [ self.nixosModules.default ];
          };
        }
      );
    };
}
