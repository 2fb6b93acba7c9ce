#!/usr/bin/env bash
# Times the admin app's content list at 100,000 items in headless Chromium:
# starts the whole app (spin.toml) on embedded backends with a bootstrap
# admin, seeds the items through the bulk import, then runs
# components/admin/web/e2e/list-bench.mjs (cold loads and scrollbar jumps).
#   bash infra/admin-list-bench.sh [path/to/folio] [items]
set -euo pipefail
cd "$(dirname "$0")/.."
FOLIO="${1:-${CARGO_TARGET_DIR:-target}/release/folio}"
ITEMS="${2:-100000}"
CHROMIUM="$(bash infra/browser.sh)"
bash infra/admin-web.sh >/dev/null
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
email=admin@folio.test
password="list bench passphrase $RANDOM$RANDOM"
FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL="$email" FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD="$password" \
  "$FOLIO" up --manifest spin.toml --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/folio.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  grep -q '"serving"' "$work/folio.log" && break
  sleep 0.5
done
cd components/admin/web
FOLIO_URL="http://127.0.0.1:$port" FOLIO_ADMIN_EMAIL="$email" FOLIO_ADMIN_PASSWORD="$password" \
  CHROMIUM="$CHROMIUM" ITEMS="$ITEMS" LOADS=40 node e2e/list-bench.mjs
