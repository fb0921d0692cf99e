# shellcheck shell=bash
# Smoke run of one service (checks.x86_64-linux.<svc>-smoke; also run by test/nix.test.ts):
# starts the image's Cmd in its working directory with PORT set, as Scaleway would, and requires an
# HTTP answer on that port and path. Catches an app listening on another port ("ready but 502")
# and an entrypoint that crashes, before any deploy.
#
# Usage: bash smoke-check.sh BUN PROBE PORT PATH EXPECT WORKDIR [NAME=VALUE...] -- CMD...
#   EXPECT: ok (a 2xx answer) or any (any HTTP answer); NAME=VALUE: the app's environment.
set -euo pipefail

if [ "$#" -lt 8 ]; then
  echo "usage: smoke-check.sh BUN PROBE PORT PATH EXPECT WORKDIR [NAME=VALUE...] -- CMD..." >&2
  exit 2
fi
bun=$1 probe=$2 port=$3 url_path=$4 expect=$5 workdir=$6
shift 6
app_env=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  app_env+=("$1")
  shift
done
if [ "$#" -lt 2 ]; then
  echo "smoke-check.sh: missing -- CMD..." >&2
  exit 2
fi
shift

log="${TMPDIR:-/tmp}/smoke-app-$$.log"
# env sets exactly the service's variables for the app only, never for this script.
(cd "$workdir" && exec env "${app_env[@]}" PORT="$port" "$@") >"$log" 2>&1 &
app=$!

status=0
# NIXWAY_SMOKE_TIMEOUT (seconds, default 30): how long the app may take to answer.
"$bun" "$probe" "http://127.0.0.1:${port}${url_path}" "$expect" "${NIXWAY_SMOKE_TIMEOUT:-30}" "$app" || status=$?

kill "$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true
if [ "$status" -ne 0 ]; then
  echo "--- output of the app ---" >&2
  cat "$log" >&2
fi
rm -f "$log"
exit "$status"
