# nixway tests: a strict stand-in for nixpkgs, used with
#   nix eval .#… --override-input nixpkgs path:test/nix-double
# It has the outputs nixway's flake reads (lib, legacyPackages.<system>); see pkgs.nix.
{
  description = "Strict nixpkgs test double for nixway (evaluation only; nothing here builds)";

  outputs =
    { self }:
    {
      lib = import ./lib.nix;
      legacyPackages = builtins.listToAttrs (
        map
          (system: {
            name = system;
            value = import ./pkgs.nix { inherit system; };
          })
          [
            "x86_64-linux"
            "aarch64-linux"
            "x86_64-darwin"
            "aarch64-darwin"
          ]
      );
    };
}
