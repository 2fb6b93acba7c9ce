#!/usr/bin/env bash
# Runs Folio's components under a real Spin when one is here (`spin` on
# PATH, or the build cached at ~/.cache/folio/spin/bin/spin; see
# docs/ARCHITECTURE.md "Running on Spin" for how it was built), and the
# same .wasm under `folio up`, and compares their answers; with --bench,
# drives both with wrk and prints requests/s and p99.
#   bash infra/spin-check.sh [--bench] [path/to/folio]
# meta and admin import nothing but WASI and Spin's own interfaces and run
# as they are; the services run composed with the platform shim beside
# `folio adapters` (tests/spin.rs checks them; --bench times users and search here).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=0
if [ "${1:-}" = "--bench" ]; then BENCH=1; shift; fi
FOLIO="${1:-${CARGO_TARGET_DIR:-target}/release/folio}"
SPIN="$(command -v spin || true)"
[ -n "$SPIN" ] || SPIN="$HOME/.cache/folio/spin/bin/spin"
if [ ! -x "$SPIN" ]; then
  echo "spin-check: no spin binary (PATH or $SPIN): skipped"
  exit 0
fi
echo "spin-check: $("$SPIN" --version | head -1)"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cat >"$work/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "folio-meta"
[variables]
platform_name = { default = "Folio" }
services = { default = "meta" }
openapi_sources = { default = "" }
[[trigger.http]]
route = "/api/v1"
component = "meta"
[component.meta]
source = "$PWD/target/wasm32-wasip2/release/folio_meta.wasm"
variables = { platform_name = "{{ platform_name }}", services = "{{ services }}", openapi_sources = "{{ openapi_sources }}" }
[[trigger.http]]
route = "/"
component = "admin"
[[trigger.http]]
route = "/admin/..."
component = "admin"
[[trigger.http]]
route = "/docs/..."
component = "admin"
[component.admin]
source = "$PWD/target/wasm32-wasip2/release/folio_admin.wasm"
TOML
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 1 100); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "spin-check: nothing answered at $1" >&2
  return 1
}
spin_port="$(free_port)"
folio_port="$(free_port)"
(cd "$work" && exec "$SPIN" up -f spin.toml --listen "127.0.0.1:$spin_port" >"$work/spin.log" 2>&1) &
pids+=($!)
"$FOLIO" up --manifest "$work/spin.toml" --listen "127.0.0.1:$folio_port" --data-dir "$work/folio" >"$work/folio.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$spin_port/api/v1" || { cat "$work/spin.log" >&2; exit 1; }
wait_for "http://127.0.0.1:$folio_port/api/v1" || { cat "$work/folio.log" >&2; exit 1; }
under_spin="$(curl -sf "http://127.0.0.1:$spin_port/api/v1")"
under_folio="$(curl -sf "http://127.0.0.1:$folio_port/api/v1")"
if [ "$under_spin" != "$under_folio" ]; then
  echo "spin-check: meta answers differently: spin $under_spin, folio $under_folio" >&2
  exit 1
fi
echo "spin-check: folio_meta.wasm answers alike under Spin and folio: $under_spin"
# The admin component: the same pages, encodings and validators under both.
for path in / /admin/ /admin/content/42 /docs/ /admin/assets/missing.js; do
  answer() {
    curl -s -H 'accept-encoding: br, gzip' -D - -o "$work/body-$1" "http://127.0.0.1:$2$path" \
      | grep -iE '^(HTTP/|content-type|content-encoding|etag|cache-control|content-security-policy)' \
      | sed 's/HTTP\/[0-9.]* /HTTP /' | tr -d '\r' | sort
  }
  spin_headers="$(answer spin "$spin_port")"
  folio_headers="$(answer folio "$folio_port")"
  if [ "$spin_headers" != "$folio_headers" ] || ! cmp -s "$work/body-spin" "$work/body-folio"; then
    echo "spin-check: folio_admin.wasm answers $path differently:" >&2
    diff <(echo "$spin_headers") <(echo "$folio_headers") >&2 || true
    exit 1
  fi
done
echo "spin-check: folio_admin.wasm serves the landing page, the app (brotli, ETags, its CSP) and the API reference alike under Spin and folio"
if [ "$BENCH" = 1 ]; then
  for target in "spin $spin_port" "folio $folio_port"; do
    set -- $target
    wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$2/api/v1" >"$work/wrk-$1.txt"
    rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$1.txt")"
    p50="$(awk '$1 == "50%" {print $2}' "$work/wrk-$1.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$work/wrk-$1.txt")"
    echo "spin-check bench: $1: $rps requests/s, p50 $p50, p99 $p99 (wrk -t2 -c16 -d10s, GET /api/v1)"
  done
fi
if [ "$BENCH" = 1 ]; then
  # The users service composed with the shim, beside `folio adapters`, and
  # the same manifest under `folio up`: GET /api/v1/users/me, which checks
  # the token and reads the account (one adapter call under Spin).
  export FOLIO_ADAPTERS_SECRET="spin-check bench secret, thirty-two bytes or more"
  export FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL=admin@folio.test
  export FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD='bootstrap admin passphrase 7'
  adapters_port="$(free_port)"
  users_spin_port="$(free_port)"
  users_folio_port="$(free_port)"
  # Both compile every component of the app once, into one cache.
  mkdir -p "$work/adapters/compiled" "$work/folio-users"
  ln -s "$work/adapters/compiled" "$work/folio-users/compiled"
  # wrk sends every request from one address: loopback is exempt from the
  # rate limits, under Spin (the gateway asks the adapter service) and
  # under folio alike, so both answer every request.
  printf '[rate_limits]\nexempt = ["127.0.0.1"]\n' >"$work/loopback-exempt.toml"
  "$FOLIO" adapters --manifest spin.toml --listen "127.0.0.1:$adapters_port" --data-dir "$work/adapters" \
    --runtime-config "$work/loopback-exempt.toml" >"$work/adapters.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$adapters_port/_folio/health" >/dev/null && break
    sleep 0.2
  done
  "$FOLIO" up --manifest spin.toml --listen "127.0.0.1:$users_folio_port" --data-dir "$work/folio-users" \
    --runtime-config "$work/loopback-exempt.toml" >"$work/folio-users.log" 2>&1 &
  pids+=($!)
  "$FOLIO" export spin --manifest spin.toml --out "$work/spin-users" --component-id users \
    --component-id search --component-id flags --adapters-url "http://127.0.0.1:$adapters_port" --data-dir "$work/adapters" >/dev/null
  (cd "$work/spin-users" && set -a && . ./spin.env && exec "$SPIN" up -f spin.toml --listen "127.0.0.1:$users_spin_port" >"$work/spin-users.log" 2>&1) &
  pids+=($!)
  for target in "spin $users_spin_port" "folio $users_folio_port"; do
    set -- $target
    for _ in $(seq 1 600); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/api/v1/users/me")" = 401 ] && break
      sleep 0.2
    done
    token="$(curl -sf -X POST "http://127.0.0.1:$2/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"email\":\"$FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL\",\"password\":\"$FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD\"}" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')"
    wrk -t2 -c16 -d10s --latency -H "authorization: Bearer $token" "http://127.0.0.1:$2/api/v1/users/me" >"$work/wrk-users-$1.txt"
    rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk-users-$1.txt")"
    p50="$(awk '$1 == "50%" {print $2}' "$work/wrk-users-$1.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$work/wrk-users-$1.txt")"
    failed="$(awk '/Non-2xx/ {print $5}' "$work/wrk-users-$1.txt")"
    echo "spin-check bench: users $1: $rps requests/s, p50 $p50, p99 $p99, non-2xx ${failed:-0} (wrk -t2 -c16 -d10s, GET /api/v1/users/me)"
    # An anonymous search: its flags by a chained call, the query on the
    # index (forwarded to the adapter service under Spin).
    wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$2/api/v1/search?q=frost" >"$work/wrk-search-$1.txt"
    rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk-search-$1.txt")"
    p50="$(awk '$1 == "50%" {print $2}' "$work/wrk-search-$1.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$work/wrk-search-$1.txt")"
    failed="$(awk '/Non-2xx/ {print $5}' "$work/wrk-search-$1.txt")"
    echo "spin-check bench: search $1: $rps requests/s, p50 $p50, p99 $p99, non-2xx ${failed:-0} (wrk -t2 -c16 -d10s, GET /api/v1/search?q=frost)"
  done
fi
