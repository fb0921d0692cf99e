# A strict stand-in for `nixpkgs.legacyPackages.<system>`, for evaluating nixway's flake offline.
#
# Every function nixway's Nix calls accepts exactly the argument names of the real nixpkgs function
# (the file each mirrors is named next to it) and throws on any other, so a misspelt or invented
# argument fails the tests instead of failing on a user's machine. Results are real derivations
# (store paths, drvPath, string context all behave), but their builder only fails: this double is
# for evaluation (`nix eval`, `nix flake check --no-build`), never for building.
#
# Argument lists were read from two generations of nixpkgs' pkgs/build-support: an earlier
# NixOS/nixpkgs tree and a later 2025 one (a snapshot of the fork faukah/nixpkgs at 3b20077cd82f).
# The pinned nixos-25.05 lies between them, so the double accepts the arguments both have: newer
# optional ones (streamLayeredImage's layeringPipeline and debug, buildLayeredImage's compressor,
# writeShellApplication's inheritPath, buildNodeModules' derivationArgs) are refused, since
# nixway must not depend on them.
{ system }:
let
  lib = import ./lib.nix;

  notBuildable = "echo 'nixpkgs test double: derivations here are for evaluation only' >&2; exit 1";

  # A derivation with `env` as its environment; meta and passthru are attached like mkDerivation
  # does, and overrideAttrs rebuilds it from the merged attributes (the `old:` form).
  mkDrv =
    name: env: extra:
    let
      drv = derivation (
        {
          inherit name system;
          builder = "/bin/sh";
          args = [
            "-c"
            notBuildable
          ];
        }
        // builtins.removeAttrs env [
          "meta"
          "passthru"
        ]
      );
    in
    drv
    // (env.passthru or { })
    // {
      meta = env.meta or { };
      overrideAttrs =
        f:
        let
          r = f env;
        in
        mkDrv name (env // (if builtins.isFunction r then r env else r)) extra;
    }
    // extra;

  package =
    pname: version: meta:
    mkDrv "${pname}-${version}" { inherit meta; } { inherit pname version; };

  # Checks an attribute-set argument against the real function's parameter names.
  strict =
    fn: mirrors:
    {
      required ? [ ],
      optional ? [ ],
    }:
    args:
    let
      allowed = required ++ optional;
      names = if builtins.isAttrs args then builtins.attrNames args else [ ];
      unknown = builtins.filter (n: !(builtins.elem n allowed)) names;
      missing = builtins.filter (n: !(builtins.elem n names)) required;
    in
    if !(builtins.isAttrs args) then
      throw "nixpkgs test double: ${fn} takes an attribute set (as in ${mirrors})"
    else if unknown != [ ] then
      throw "nixpkgs test double: ${fn} has no argument(s) ${toString unknown}; the real one (${mirrors}) accepts: ${toString allowed}"
    else if missing != [ ] then
      throw "nixpkgs test double: ${fn} needs argument(s) ${toString missing} (${mirrors})"
    else
      args;

  expectType =
    fn: arg: pred: what: value:
    if pred value then value else throw "nixpkgs test double: ${fn}: ${arg} must be ${what}";

  isDrv = v: builtins.isAttrs v && (v.type or null) == "derivation";

  bash = package "bash" "5.2p37" { mainProgram = "bash"; };
  runtimeShell = "${bash}/bin/bash";

  # pkgs/build-support/docker/default.nix: streamLayeredImage's parameters; buildLayeredImage
  # passes its arguments on to streamLayeredImage.
  layeredImageArgs = {
    required = [ "name" ];
    optional = [
      "tag"
      "fromImage"
      "contents"
      "config"
      "architecture"
      "created"
      "mtime"
      "uid"
      "gid"
      "uname"
      "gname"
      "maxLayers"
      "extraCommands"
      "fakeRootCommands"
      "enableFakechroot"
      "includeStorePaths"
      "includeNixDB"
      "passthru"
    ];
  };

  # The image config fields of the OCI image spec (config.md, "config" properties) plus Docker's
  # Healthcheck: `config` is copied verbatim into the image, so anything else is a typo.
  ociConfigFields = [
    "User"
    "ExposedPorts"
    "Env"
    "Entrypoint"
    "Cmd"
    "Volumes"
    "WorkingDir"
    "Labels"
    "StopSignal"
    "ArgsEscaped"
    "Healthcheck"
  ];

  checkImageArgs =
    fn: args:
    let
      config = args.config or { };
      badFields = builtins.filter (f: !(builtins.elem f ociConfigFields)) (builtins.attrNames config);
      contents = args.contents or [ ];
    in
    if !(builtins.isAttrs config) then
      throw "nixpkgs test double: ${fn}: config must be an attribute set"
    else if badFields != [ ] then
      throw "nixpkgs test double: ${fn}: config has field(s) ${toString badFields}, not in the OCI image config (${toString ociConfigFields})"
    else if !(isDrv contents || (builtins.isList contents && builtins.all isDrv contents)) then
      throw "nixpkgs test double: ${fn}: contents must be a derivation or a list of derivations"
    else if (config ? Cmd) && !(builtins.isList config.Cmd && builtins.all builtins.isString config.Cmd) then
      throw "nixpkgs test double: ${fn}: config.Cmd must be a list of strings"
    else
      args;

  streamLayeredImage =
    args0:
    let
      args = checkImageArgs "dockerTools.streamLayeredImage" (
        strict "dockerTools.streamLayeredImage" "pkgs/build-support/docker/default.nix" layeredImageArgs args0
      );
    in
    mkDrv "stream-${baseNameOf args.name}" { } {
      imageTag = args.tag or "double";
      isExe = true;
      doubleArgs = args;
    };

  buildLayeredImage =
    args0:
    let
      args = checkImageArgs "dockerTools.buildLayeredImage" (
        strict "dockerTools.buildLayeredImage" "pkgs/build-support/docker/default.nix" layeredImageArgs args0
      );
    in
    mkDrv "${baseNameOf args.name}.tar.gz" { imageName = args.name; } {
      imageTag = args.tag or "double";
      # For the tests: what the image was asked to be. The real derivation has no such attribute.
      doubleArgs = args;
      doubleImageConfig = {
        inherit (args) config;
        architecture = args.architecture or "amd64";
        os = "linux";
        created = args.created or "1970-01-01T00:00:01Z";
      };
    };

  # pkgs/build-support/trivial-builders/default.nix: writeShellApplication, and the text it writes
  # (shebang, `set -o` lines, runtimeEnv, PATH from runtimeInputs, then the text).
  writeShellApplication =
    args0:
    let
      args =
        strict "writeShellApplication" "pkgs/build-support/trivial-builders/default.nix"
          {
            required = [
              "name"
              "text"
            ];
            optional = [
              "runtimeInputs"
              "runtimeEnv"
              "meta"
              "passthru"
              "checkPhase"
              "excludeShellChecks"
              "extraShellCheckFlags"
              "bashOptions"
              "derivationArgs"
            ];
          }
          args0;
      runtimeInputs = expectType "writeShellApplication" "runtimeInputs" builtins.isList "a list" (
        args.runtimeInputs or [ ]
      );
      bashOptions = args.bashOptions or [
        "errexit"
        "nounset"
        "pipefail"
      ];
      runtimeEnv = args.runtimeEnv or null;
      text =
        ''
          #!${runtimeShell}
          ${lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions}
        ''
        + lib.optionalString (runtimeEnv != null) (
          lib.concatStrings (
            lib.mapAttrsToList (name: value: ''
              ${name}=${lib.escapeShellArg value}
              export ${name}
            '') runtimeEnv
          )
        )
        + lib.optionalString (runtimeInputs != [ ]) ''

          export PATH="${lib.makeBinPath runtimeInputs}:$PATH"
        ''
        + ''

          ${expectType "writeShellApplication" "text" builtins.isString "a string" args.text}
        '';
    in
    mkDrv args.name {
      inherit text;
      executable = true;
      destination = "/bin/${args.name}";
      meta = {
        mainProgram = args.name;
      } // (args.meta or { });
      passthru = args.passthru or { };
    } { };

  # pkgs/build-support/trivial-builders/default.nix: runCommand name env buildCommand.
  runCommand =
    name: env: buildCommand:
    if !(builtins.isString name) then
      throw "nixpkgs test double: runCommand: the name must be a string"
    else if !(builtins.isAttrs env) then
      throw "nixpkgs test double: runCommand ${name}: the environment must be an attribute set"
    else if !(builtins.isString buildCommand) then
      throw "nixpkgs test double: runCommand ${name}: the build command must be a string"
    else
      mkDrv name (env // { inherit buildCommand; }) { };

  # pkgs/build-support/mkshell/default.nix (the named parameters plus shellHook; the real one passes
  # any other attribute to mkDerivation, which nixway does not need).
  mkShell =
    args0:
    let
      args = strict "mkShell" "pkgs/build-support/mkshell/default.nix" {
        optional = [
          "name"
          "packages"
          "inputsFrom"
          "buildInputs"
          "nativeBuildInputs"
          "propagatedBuildInputs"
          "propagatedNativeBuildInputs"
          "shellHook"
        ];
      } args0;
    in
    mkDrv (args.name or "nix-shell") {
      nativeBuildInputs = (args.packages or [ ]) ++ (args.nativeBuildInputs or [ ]);
      shellHook = args.shellHook or "";
    } { };

  # pkgs/build-support/node/import-npm-lock/default.nix: buildNodeModules. The real importNpmLock
  # fetches every lock entry from its `resolved` URL with `integrity` as the hash, and silently
  # fetches nothing for an entry without `resolved`, which then fails offline in `npm install`:
  # the double throws for such an entry instead.
  importNpmLock = {
    buildNodeModules =
      args0:
      let
        args = strict "importNpmLock.buildNodeModules" "pkgs/build-support/node/import-npm-lock/default.nix" {
          required = [ "nodejs" ];
          optional = [
            "npmRoot"
            "package"
            "packageLock"
          ];
        } args0;
        package = args.package or (builtins.fromJSON (builtins.readFile (args.npmRoot + "/package.json")));
        packageLock =
          args.packageLock or (builtins.fromJSON (builtins.readFile (args.npmRoot + "/package-lock.json")));
        unfetchable = builtins.filter (
          p:
          p != ""
          && !((packageLock.packages.${p}.link or false))
          && !(
            (packageLock.packages.${p} ? resolved)
            && (
              builtins.match "https?://.+" packageLock.packages.${p}.resolved == null
              || (packageLock.packages.${p} ? integrity)
            )
          )
        ) (builtins.attrNames packageLock.packages);
      in
      if !(isDrv args.nodejs) then
        throw "nixpkgs test double: importNpmLock.buildNodeModules: nodejs must be a derivation"
      else if unfetchable != [ ] then
        throw "nixpkgs test double: importNpmLock.buildNodeModules: lock entries without a resolved URL and integrity cannot be fetched: ${toString (builtins.genList (i: builtins.elemAt unfetchable i) (if builtins.length unfetchable < 5 then builtins.length unfetchable else 5))}"
      else
        mkDrv "${package.name or "unknown"}-node-modules-${package.version or "0.0.0"}" {
          package = builtins.toJSON package;
          packageLock = builtins.toJSON packageLock;
          passAsFile = [
            "package"
            "packageLock"
          ];
        } { doubleLockPackages = builtins.attrNames packageLock.packages; };
  };
in
{
  inherit lib runtimeShell;
  inherit
    bash
    runCommand
    writeShellApplication
    mkShell
    importNpmLock
    ;
  bun = package "bun" "1.2.14" { mainProgram = "bun"; };
  nodejs = package "nodejs" "22.16.0" { mainProgram = "node"; };
  skopeo = package "skopeo" "1.18.0" { mainProgram = "skopeo"; };
  pulumi-bin = package "pulumi" "3.162.0" { mainProgram = "pulumi"; };
  shellcheck = package "shellcheck" "0.10.0" { mainProgram = "shellcheck"; };
  jq = package "jq" "1.7.1" { mainProgram = "jq"; };
  # For services whose image.packages ask for more than bun (the tests' tricky fixture).
  busybox = package "busybox" "1.36.1" { mainProgram = "busybox"; };
  python3Packages = {
    requests = package "python3.12-requests" "2.32.3" { };
  };
  dockerTools = {
    inherit buildLayeredImage streamLayeredImage;
    # pkgs/build-support/docker/default.nix: the CA bundle at /etc/ssl/certs and /etc/pki.
    caCertificates = mkDrv "ca-certificates" { } { };
  };
}
