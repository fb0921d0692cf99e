# The few nixpkgs `lib` functions nixway's Nix uses, with the real ones' semantics, for evaluating
# flake.nix offline (nixpkgs cannot be fetched in the tests). Each names the nixpkgs file it mirrors.
# Anything else nixway's Nix reaches for is missing here on purpose: evaluation fails loudly.
let
  # lib/strings.nix: escapeShellArg (the same safe-character set and quoting).
  escapeShellArg =
    arg:
    let
      string = toString arg;
    in
    if builtins.match "[[:alnum:],._+:@%/-]+" string == null then
      "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] string}'"
    else
      string;

  # lib/strings.nix: concatMapStringsSep.
  concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
in
{
  inherit escapeShellArg concatMapStringsSep;

  # lib/strings.nix: escapeShellArgs.
  escapeShellArgs = list: builtins.concatStringsSep " " (map escapeShellArg list);

  # lib/strings.nix: makeBinPath (the real one takes each package's `bin` output; the double's
  # packages have only `out`).
  makeBinPath = pkgs: concatMapStringsSep ":" (p: "${p}/bin") pkgs;

  # lib/attrsets.nix: getAttrFromPath, throwing like the real one on a missing attribute.
  getAttrFromPath =
    attrPath: set:
    builtins.foldl' (
      acc: name:
      if acc ? ${name} then
        acc.${name}
      else
        throw "cannot find attribute `${builtins.concatStringsSep "." attrPath}'"
    ) set attrPath;

  # lib/attrsets.nix: mapAttrsToList.
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);

  # lib/strings.nix: concatStrings.
  concatStrings = builtins.concatStringsSep "";

  # lib/strings.nix: optionalString.
  optionalString = cond: string: if cond then string else "";

  # lib/attrsets.nix: genAttrs.
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
}
