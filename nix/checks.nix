# checks.x86_64-linux (`nix flake check`):
#   generated           `nixway generate --check`: the committed generated files are up to date
#   service-yaml        `nixway validate`: nixway.yaml and every service.yaml are valid
#   <svc>-image         the image builds, and is what service.yaml asks for (nix/check-image.sh)
#   <svc>-smoke         the image's Cmd, started with PORT in the sandbox, answers HTTP on that port
#                       and the health path (catches the runbook's "ready but 502" and entrypoint crashes)
#   <svc>-typecheck     the service's Pulumi program type-checks (tsc with the repo's tsconfig)
{
  pkgs,
  nixway,
  services,
  src,
}:
let
  inherit (pkgs) lib;

  # Placeholder values for secret environment variables: the smoke run has no access to secrets,
  # and an app that only reads them on request still starts.
  secretPlaceholder = "nixway-smoke-check-placeholder";

  image =
    name: svc:
    pkgs.runCommand "${name}-image-check"
      {
        nativeBuildInputs = [ pkgs.jq ];
        expectedConfig = builtins.toJSON svc.config;
        passAsFile = [ "expectedConfig" ];
      }
      ''
        bash ${./check-image.sh} ${
          lib.escapeShellArgs [
            "${svc.image}"
            "${svc.appFiles}"
            (toString svc.port)
            (if svc.imagePackages == [ ] then "minimal" else "extra-packages")
          ]
        } "$expectedConfigPath"
        touch "$out"
      '';

  smoke =
    name: svc:
    pkgs.runCommand "${name}-smoke" { } ''
      bash ${./smoke-check.sh} ${
        lib.escapeShellArgs (
          [
            "${pkgs.bun}/bin/bun"
            "${./smoke-probe.ts}"
            (toString svc.port)
            (if svc.healthPath == null then "/" else svc.healthPath)
            (if svc.healthPath == null then "any" else "ok")
            svc.config.WorkingDir
          ]
          ++ lib.mapAttrsToList (k: v: "${k}=${v}") svc.environment
          ++ map (k: "${k}=${secretPlaceholder}") svc.secretNames
          ++ [ "--" ]
          ++ svc.cmd
        )
      }
      touch "$out"
    '';

  typecheck =
    name: svc:
    pkgs.runCommand "${name}-typecheck"
      {
        nativeBuildInputs = [ pkgs.nodejs ];
        # The repository's own compiler options, on this service's Pulumi program only.
        tsconfig = builtins.toJSON {
          extends = "./tsconfig.json";
          include = [ "${svc.dir}/infra/**/*.ts" ];
          exclude = [ ];
        };
        passAsFile = [ "tsconfig" ];
      }
      ''
        cp -R ${src}/. work
        chmod -R u+w work
        cd work
        test -f ${lib.escapeShellArg "${svc.dir}/infra/index.ts"} || {
          echo "${svc.dir}/infra/index.ts is missing; run: npx nixway generate" >&2
          exit 1
        }
        ln -s ${nixway.nodeModules}/node_modules node_modules
        cp "$tsconfigPath" tsconfig.nixway-check.json
        node node_modules/typescript/bin/tsc --noEmit -p tsconfig.nixway-check.json
        touch "$out"
      '';

  perService =
    name: svc:
    {
      "${name}-image" = image name svc;
      "${name}-smoke" = smoke name svc;
      "${name}-typecheck" = typecheck name svc;
    };
in
{
  generated = pkgs.runCommand "nixway-generated-up-to-date" { } ''
    ${nixway.package}/bin/nixway generate --check --root ${src}
    touch "$out"
  '';
  service-yaml = pkgs.runCommand "nixway-service-yaml-valid" { } ''
    ${nixway.package}/bin/nixway validate --root ${src}
    touch "$out"
  '';
}
// builtins.foldl' (acc: name: acc // perService name services.${name}) { } (builtins.attrNames services)
