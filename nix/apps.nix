# apps.<system> of every service: deploy-, push-, promote-, status- and diagnose-<svc>, each a
# writeShellApplication (shellchecked when built) that calls the nixway CLI with skopeo, pulumi
# and node pinned on its PATH. Arguments after `--` go to the CLI:
#   nix run .#deploy-hello -- --stack testing
# The CLI finds the repository from the working directory: run the apps from the checkout.
{
  pkgs,
  nixway,
  services,
  system,
}:
let
  inherit (pkgs) lib;

  runtimeInputs = [
    nixway
    pkgs.skopeo
    pkgs.pulumi-bin
    pkgs.nodejs
  ];

  # Sets $archive to the x86_64-linux image (a docker-archive .tar.gz). Scaleway runs amd64 only,
  # and an image is never built for the host: on x86_64-linux it is an ordinary dependency of
  # the app (built by `nix run`); elsewhere the app asks Nix to build that same derivation when it
  # runs, which needs an x86_64-linux builder, and says so plainly when there is none.
  archiveStep =
    svc:
    if system == "x86_64-linux" then
      ''
        archive=${lib.escapeShellArg "${svc.image}"}
      ''
    else
      ''
        image_drv=${lib.escapeShellArg (builtins.unsafeDiscardOutputDependency svc.image.drvPath)}
        if ! command -v nix-store >/dev/null 2>&1; then
          echo "nixway: nix-store is not on PATH; it is needed to build the x86_64-linux image of ${svc.name}" >&2
          exit 1
        fi
        if ! archive="$(nix-store --realise "$image_drv")"; then
          {
            echo "nixway: could not build the x86_64-linux image of ${svc.name} on this ${system} machine."
            echo "nixway: Scaleway runs amd64 (x86_64-linux) images only, and nixway never builds an image for ${system}."
            echo "nixway: an x86_64-linux builder is needed: configure a remote builder (nix.conf:"
            echo "nixway:   builders = ssh-ng://USER@HOST x86_64-linux) or run this on an x86_64-linux machine."
          } >&2
          exit 1
        fi
      '';

  verbs = {
    deploy = {
      image = true;
      describe =
        name:
        "Build the x86_64-linux image of ${name}, push it and deploy it with Pulumi (nix run .#deploy-${name} -- --stack STACK)";
    };
    push = {
      image = true;
      describe = name: "Build the x86_64-linux image of ${name} and push it to the registry (nix run .#push-${name})";
    };
    promote = {
      image = false;
      describe =
        name:
        "Copy a pushed image of ${name} from one tag to another (nix run .#promote-${name} -- --from testing --to production)";
    };
    status = {
      image = false;
      describe = name: "Show the deployed state of ${name} on Scaleway (nix run .#status-${name} -- --stack STACK)";
    };
    diagnose = {
      image = false;
      describe = name: "Explain why ${name} is not serving, from Scaleway's state (nix run .#diagnose-${name} -- --stack STACK)";
    };
  };

  mkApp =
    svc: verb:
    let
      spec = verbs.${verb};
      appName = "${verb}-${svc.name}";
      description = spec.describe svc.name;
      drv = pkgs.writeShellApplication {
        name = appName;
        inherit runtimeInputs;
        text =
          (if spec.image then archiveStep svc else "")
          + ''
            exec nixway ${verb} ${lib.escapeShellArg svc.name}${
              if spec.image then " --archive \"$archive\"" else ""
            } "$@"
          '';
        meta.description = description;
      };
    in
    {
      name = appName;
      value = {
        type = "app";
        program = "${drv}/bin/${appName}";
        meta.description = description;
      };
    };
in
builtins.listToAttrs (
  builtins.concatMap (svc: map (mkApp svc) (builtins.attrNames verbs)) (builtins.attrValues services)
)
