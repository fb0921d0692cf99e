# packages.x86_64-linux of every service: <svc>-image (the docker-archive, .tar.gz) and <svc>,
# the app run the way its image runs it (same Cmd, same working directory) for local use:
#   nix run .#hello   (listens on $PORT, default the service's port)
{ pkgs, services }:
let
  inherit (pkgs) lib;
  taken = [ "nixway" ] ++ map (n: "${n}-image") (builtins.attrNames services);
  forService =
    name: svc:
    if builtins.elem name taken then
      throw "nixway: service name ${name} collides with the flake output packages.x86_64-linux.${name}; rename the service"
    else
      {
        "${name}-image" = svc.image;
        ${name} = pkgs.writeShellApplication {
          inherit name;
          text = ''
            export PORT="''${PORT:-${toString svc.port}}"
            cd ${lib.escapeShellArg svc.config.WorkingDir}
            exec ${lib.escapeShellArgs svc.cmd} "$@"
          '';
          passthru = { inherit (svc) appFiles image; };
          meta.description = "Service ${name}, run like its image runs it (PORT defaults to ${toString svc.port})";
        };
      };
in
builtins.foldl' (acc: name: acc // forService name services.${name}) { } (builtins.attrNames services)
