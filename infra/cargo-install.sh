#!/usr/bin/env bash
# Installs a test server from crates.io (garage, tansu) the fast way:
#   bash infra/cargo-install.sh CRATE VERSION [--features LIST]
# These are test fixtures, not what is measured, so they build at
# opt-level 1 (about 40% less compile time than release's 3) into one
# shared target directory outside the clone, where the crates both need
# (tokio, hyper, rustls, ...) compile once.
set -euo pipefail
crate="$1"
version="$2"
shift 2
export CARGO_PROFILE_RELEASE_OPT_LEVEL=1
export CARGO_PROFILE_RELEASE_DEBUG=0
exec cargo install "$crate" --version "$version" --locked \
  --target-dir "$HOME/.cache/folio/install-target" "$@"
