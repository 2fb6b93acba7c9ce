#!/usr/bin/env bash
# Builds the admin web app, the landing page and the API reference into
# components/admin/web/dist (the admin component embeds them), installing
# Node.js and the locked npm packages when missing.
#   bash infra/admin-web.sh          # install if needed, build
#   bash infra/admin-web.sh check    # types, lint and format, then build
# stdout stays quiet but for the size report; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../components/admin/web"

# An image build makes dist in a Node stage of its own (infra/container).
if [ "${FOLIO_ADMIN_WEB_PREBUILT:-}" = 1 ] && [ -f dist/admin/index.html ]; then
  exit 0
fi

if ! command -v npm >/dev/null; then
  echo "installing nodejs and npm" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >&2
fi

# node_modules matches the lock, or is installed again from it.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.folio-lock 2>/dev/null)" != "$lock_hash" ]; then
  echo "npm ci (components/admin/web)" >&2
  npm ci --silent >&2
  echo "$lock_hash" > node_modules/.folio-lock
fi

if [ "${1:-}" = check ]; then
  npx tsc --noEmit >&2
  npx eslint --max-warnings 0 . >&2
  npx prettier --check --log-level warn . >&2
fi
npm run --silent build
