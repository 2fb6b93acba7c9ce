#!/usr/bin/env bash
# Installs Debian's Chromium when missing and prints its path; the browser
# tests drive it headless through playwright-core (never a downloaded browser).
set -euo pipefail
if ! command -v chromium >/dev/null; then
  mkdir -p "$HOME/.cache/folio"
  exec 9>"$HOME/.cache/folio/chromium.lock"
  flock 9
  if ! command -v chromium >/dev/null; then
    echo "installing chromium" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  fi
fi
command -v chromium
