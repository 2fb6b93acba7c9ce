#!/usr/bin/env bash
# Installs what building and testing Folio needs, only when it is missing.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
