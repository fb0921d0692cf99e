# devShells.<system>.default: the tools nixway and its tests call.
{ pkgs }:
pkgs.mkShell {
  packages = [
    pkgs.nodejs
    pkgs.bun
    pkgs.skopeo
    pkgs.pulumi-bin
    pkgs.shellcheck
  ];
}
