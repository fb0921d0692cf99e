# The nixway CLI as a package: its sources, node_modules built from package-lock.json by
# importNpmLock (every tarball pinned by the lock's integrity hash, no extra hash to maintain),
# and bin/nixway running bin/nixway.js with nodejs.
# Returns { package, nodeModules } (nodeModules also serves the Pulumi type-check).
{ pkgs, src }:
let
  readJSON = file: builtins.fromJSON (builtins.readFile file);

  # The npm registry tarball of a lock entry: npm's own URL scheme, for lock files written with
  # omit-lockfile-registry-resolved (they keep `integrity` but drop `resolved`, and importNpmLock
  # fetches only what has a URL). The integrity hash still pins the content.
  registryTarball =
    lockPath: entry:
    let
      parts = builtins.filter builtins.isString (builtins.split "node_modules/" lockPath);
      name = entry.name or (builtins.elemAt parts (builtins.length parts - 1));
      base = builtins.elemAt (builtins.filter builtins.isString (builtins.split "/" name)) (
        if builtins.substring 0 1 name == "@" then 1 else 0
      );
    in
    "https://registry.npmjs.org/${name}/-/${base}-${entry.version}.tgz";

  # The `bun` npm package is only for running the tests outside Nix (the flake uses pkgs.bun); its
  # platform binaries (@oven/bun-*) would be fetched for every platform, and its install script
  # cannot run in the build sandbox. Left out of the Nix build of node_modules.
  ovenPrefix = "node_modules/@oven/bun-";
  withoutNpmBun =
    path:
    !(path == "node_modules/bun" || builtins.substring 0 (builtins.stringLength ovenPrefix) path == ovenPrefix);

  package0 = readJSON (src + "/package.json");
  package = package0 // {
    devDependencies = builtins.removeAttrs (package0.devDependencies or { }) [ "bun" ];
  };
  lock0 = readJSON (src + "/package-lock.json");
  lock = lock0 // {
    packages = builtins.listToAttrs (
      map
        (
          path:
          let
            entry = lock0.packages.${path};
          in
          {
            name = path;
            value =
              if path == "" then
                entry // { devDependencies = builtins.removeAttrs (entry.devDependencies or { }) [ "bun" ]; }
              else if (entry.link or false) || (entry.inBundle or false) || entry ? resolved then
                entry
              else
                entry // { resolved = registryTarball path entry; };
          }
        )
        (builtins.filter withoutNpmBun (builtins.attrNames lock0.packages))
    );
  };

  nodeModules =
    (pkgs.importNpmLock.buildNodeModules {
      nodejs = pkgs.nodejs;
      inherit package;
      packageLock = lock;
    }).overrideAttrs
      (old: {
        # Install scripts stay off in the sandbox: none is needed (esbuild finds its platform
        # package by itself; protobufjs's only prints a warning).
        npmRebuildFlags = [ "--ignore-scripts" ];
      });

  # Only what the CLI needs at run time, so editing a service does not rebuild nixway.
  keep = [
    "bin"
    "generator"
    "schemas"
    "templates"
    "package.json"
    "tsconfig.json"
  ];
  srcRoot = toString src;
  topLevel = p: builtins.head (builtins.split "/" (builtins.substring (builtins.stringLength srcRoot + 1) (builtins.stringLength p) p));
  sources = builtins.path {
    name = "nixway-source";
    path = src;
    filter = p: _type: builtins.elem (topLevel p) keep;
  };

  tree = pkgs.runCommand "nixway-${package.version}-lib" { } ''
    mkdir -p "$out"
    cp -R ${sources}/. "$out/"
    ln -s ${nodeModules}/node_modules "$out/node_modules"
  '';
in
{
  inherit nodeModules;
  package = pkgs.writeShellApplication {
    name = "nixway";
    text = ''
      exec ${pkgs.nodejs}/bin/node ${tree}/bin/nixway.js "$@"
    '';
    meta.description = "nixway CLI: Bun services on Scaleway Serverless Containers";
  };
}
