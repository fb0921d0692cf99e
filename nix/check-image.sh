# shellcheck shell=bash
# Inspects a built image (checks.x86_64-linux.<svc>-image; also run by test/nix.test.ts on
# hand-made archives). Needs tar, gzip, jq.
#
# Usage: bash check-image.sh ARCHIVE APP_FILES PORT minimal|extra-packages EXPECTED_CONFIG_JSON
#   ARCHIVE: the docker-archive (.tar.gz) from dockerTools.buildLayeredImage
#   APP_FILES: the store path of the app files, which must have a layer of their own
#   minimal: no shell or coreutils may be in the image (service.yaml asked for no extra packages)
#   EXPECTED_CONFIG_JSON: file holding the `config` the Nix expression gave the image
set -euo pipefail

if [ "$#" -ne 5 ]; then
  echo "usage: check-image.sh ARCHIVE APP_FILES PORT minimal|extra-packages EXPECTED_CONFIG_JSON" >&2
  exit 2
fi
archive=$1 app_files=$2 port=$3 contents=$4 expected=$5
failures=0
fail() {
  echo "image check: $*" >&2
  failures=$((failures + 1))
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"

manifest="$work/manifest.json"
config_file="$work/$(jq -r '.[0].Config' "$manifest")"

# The config is exactly what the Nix expression asked for, and says what Scaleway needs.
jq -e --slurpfile want "$expected" '.config == $want[0]' "$config_file" >/dev/null ||
  fail "the image config differs from the one in image.nix: $(jq -c .config "$config_file")"
jq -e '.architecture == "amd64" and .os == "linux"' "$config_file" >/dev/null ||
  fail "platform is $(jq -r '.os + "/" + .architecture' "$config_file"); Scaleway runs linux/amd64 only"
jq -e '.created == "1970-01-01T00:00:01+00:00" or .created == "1970-01-01T00:00:01Z"' "$config_file" >/dev/null ||
  fail "creation date $(jq -r .created "$config_file") is not the fixed reproducible one"
jq -e '(.config.Cmd | length) == 2 and (.config.Cmd[0] | test("^/nix/store/[^/]+/bin/bun$"))' "$config_file" >/dev/null ||
  fail "Cmd must be [ <bun store path>/bin/bun, <entry> ]: $(jq -c .config.Cmd "$config_file")"
jq -e '[(.config.Entrypoint // []), (.config.Cmd // [])] | flatten | all(. != "/usr/bin/env")' "$config_file" >/dev/null ||
  fail "Cmd or Entrypoint uses /usr/bin/env (the runbook's 'bun: not found')"
jq -e --arg app "$app_files" '.config.Cmd[1] | startswith($app + "/app/")' "$config_file" >/dev/null ||
  fail "Cmd's entry is not under $app_files/app/"
jq -e --arg p "$port/tcp" '.config.ExposedPorts | has($p)' "$config_file" >/dev/null ||
  fail "ExposedPorts lacks $port/tcp"
jq -e '.config.User | type == "string" and test("^[1-9][0-9]*(:[0-9]+)?$")' "$config_file" >/dev/null ||
  fail "User must be a numeric non-root uid[:gid]: $(jq -c .config.User "$config_file")"

# Every layer's file list, names without a leading / or ./ (tar writes either).
app_base="${app_files#/}"
app_layers=0
while IFS= read -r layer; do
  names="$(tar -tf "$work/$layer" | sed -e 's|^\./||' -e 's|^/||' -e 's|/$||' | grep -v '^$' || true)"
  if grep -q -x -F "$app_base" <<<"$names"; then
    app_layers=$((app_layers + 1))
    others="$(grep -v -x -F -e nix -e nix/store -e "$app_base" <<<"$names" | grep -v -F "$app_base/" || true)"
    [ -z "$others" ] || fail "the app files share layer $layer with: $(head -n 5 <<<"$others" | tr '\n' ' ')"
  fi
  if [ "$contents" = minimal ]; then
    shells="$(grep -E -e '^nix/store/[a-z0-9]{32}-(bash|bash-interactive|coreutils|coreutils-full|busybox|dash)-[0-9]' -e '^(usr/)?bin/(sh|bash)$' <<<"$names" | head -n 3 || true)"
    [ -z "$shells" ] || fail "a shell or coreutils is in layer $layer: $(tr '\n' ' ' <<<"$shells")"
  fi
done < <(jq -r '.[0].Layers[]' "$manifest")
[ "$app_layers" -eq 1 ] || fail "the app files $app_files are in $app_layers layers, expected exactly 1"

if [ "$failures" -ne 0 ]; then
  echo "image check: $failures problem(s) in $archive" >&2
  exit 1
fi
echo "image check: $archive ok"
