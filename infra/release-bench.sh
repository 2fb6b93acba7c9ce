#!/usr/bin/env bash
# Serves the whole app (spin.toml) and drives `GET /api/v1/meta` with wrk
# for 10 s, then for 20 s while releases change under it: a candidate of the same app
# staged, given half the requests, promoted, rolled back, then the live
# manifest reloaded by SIGHUP. Prints how long each change took and wrk's
# numbers (any non-2xx answer shows up there).
#   bash infra/release-bench.sh [path/to/folio]
set -euo pipefail
cd "$(dirname "$0")/.."
FOLIO="${1:-${CARGO_TARGET_DIR:-target}/release/folio}"
command -v wrk >/dev/null || { echo "release-bench: needs wrk (apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
token="release-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$work/runtime.toml" <<TOML
[releases]
bearer_token = "$token"
[rate_limits]
exempt = ["127.0.0.1"]
TOML
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$FOLIO" up --manifest spin.toml --listen "127.0.0.1:$port" --data-dir "$work/data" \
  --runtime-config "$work/runtime.toml" >"$work/folio.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do curl -sf "$base/_folio/ready" >/dev/null 2>&1 && break; sleep 0.2; done
change() {
  local label="$1"; shift
  curl -s -o /dev/null -w "$label: %{http_code} in %{time_total}s\n" -H "Authorization: Bearer $token" \
    -H 'content-type: application/json' "$@"
}
echo "== 10 s with no change, for comparison"
wrk -t2 -c16 -d10s --latency "$base/api/v1/meta" | grep -E '^ +(50|99)%|Requests/sec|Non-2xx|Socket errors'
echo "== 20 s across the changes"
wrk -t2 -c16 -d20s --latency "$base/api/v1/meta" >"$work/wrk.txt" &
wrk_pid=$!
sleep 3
change "stage the app as a candidate" -X POST -d "{\"manifest\":\"$PWD/spin.toml\"}" "$base/_folio/releases"
sleep 3
change "candidate at 50%" -X PUT -d '{"weight":50}' "$base/_folio/releases/candidate/weight"
sleep 3
change "promote" -X POST "$base/_folio/releases/promote"
sleep 3
change "roll back" -X POST "$base/_folio/releases/rollback"
sleep 2
kill -HUP "$pid"
sleep 3
echo "releases loaded (the candidate, then SIGHUP's):"
grep '"release loaded"' "$work/folio.log" | grep -o '"data":{[^}]*}' || true
wait "$wrk_pid"
cat "$work/wrk.txt"
