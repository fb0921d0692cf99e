# Every service of the repository: imports each services/<dir>/image.nix that `nixway generate`
# wrote, with x86_64-linux packages (Scaleway runs amd64 images only, whatever the host is).
# Returns an attribute set from service name to what image.nix returns (name, port, image, ...).
{ pkgs, servicesDir }:
let
  entries = if builtins.pathExists servicesDir then builtins.readDir servicesDir else { };
  dirs = builtins.filter (
    d: entries.${d} == "directory" && builtins.pathExists (servicesDir + "/${d}/image.nix")
  ) (builtins.attrNames entries);
  services = map (d: import (servicesDir + "/${d}/image.nix") { inherit pkgs; }) dirs;
  names = map (s: s.name) services;
  duplicates = builtins.filter (n: builtins.length (builtins.filter (m: m == n) names) > 1) names;
in
if duplicates != [ ] then
  throw "nixway: more than one services/*/image.nix defines service ${builtins.head duplicates}; run: npx nixway generate"
else
  builtins.listToAttrs (
    map (s: {
      name = s.name;
      value = s;
    }) services
  )
