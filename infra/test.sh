#!/usr/bin/env bash
# The whole test suite, with its own set-up: works on a fresh machine.
#   bash infra/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are cached outside the clone, so a fresh clone reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/folio/target}"
export CARGO_TERM_COLOR=never
step() { printf '\n==> %s (at %ss)\n' "$*" "$SECONDS"; }

# Test and bench executables are hundreds of MB each (debug info), and each
# clone path and each change of their code links new ones beside the old: in
# a long-lived cache they once filled this machine's disk twice (the linker
# died with SIGBUS; a later run had no space for an rlib). Of each name (a
# package's lib, bin and test targets share one), only executables linked
# within three hours of the newest are kept; cargo relinks any other it needs.
for deps in "$CARGO_TARGET_DIR"/{release,debug}/deps; do
  [ -d "$deps" ] || continue
  find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.*' -printf '%T@ %f\n' |
    sort -rn | awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name)
      if (!(name in newest)) newest[name] = $1
      else if (newest[name] - $1 > 3 * 3600) print $2 }' |
    (cd "$deps" && xargs -r rm -f --)
done

step "toolchain"
bash infra/setup.sh

# On a fresh machine garage and tansu take ~18 minutes to compile. Built
# beside the lints and the host's build, they use the cores those leave idle
# (single-crate stretches, links) instead of going first.
servers_log="$(mktemp)"
(bash infra/kafka.sh install && bash infra/s3.sh install) >"$servers_log" 2>&1 &
servers_installed=$!

step "format and lints"
cargo fmt --all -- --check
# The admin web app: types, lint and format checks, then the build the admin
# component embeds (its clippy below needs it) with the JavaScript size budget.
bash infra/admin-web.sh check
cargo clippy --release --locked -p folio -p folio-sql -p folio-kv -p folio-blobs -p folio-transcode -p folio-passwords -p folio-search-index -p folio-mail -p folio-observe -p folio-events -p folio-auth -p folio-imaging -p folio-adapter-protocol -p folio-tests --all-targets -- -D warnings
cargo clippy --release --locked --target wasm32-wasip2 --target-dir target \
  -p folio-meta -p folio-admin -p folio-hello -p folio-guest -p folio-fixtures -p folio-fixture-unlinkable -p folio-fixture-state -p folio-fixture-events -p folio-auth -p folio-users -p folio-content -p folio-imaging -p folio-media -p folio-graphql -p folio-search -p folio-notifications -p folio-publishing -p folio-flags -p folio-analytics -p folio-billing -p folio-spin-shim -p folio-spin-events -p folio-spin-cron -p folio-spin-gateway -- -D warnings

# The build takes exactly the native packages the native tests take, so
# features unify alike and `cargo test` reuses the build instead of compiling
# wasmtime, sqlx and aws-sdk-s3 a second time. The components' crates are
# cdylibs built only for Wasm; their unit tests run natively on their own.
NATIVE_PACKAGES=(-p folio -p folio-sql -p folio-kv -p folio-blobs -p folio-transcode -p folio-passwords -p folio-search-index -p folio-mail -p folio-observe -p folio-events
  -p folio-auth -p folio-imaging -p folio-adapter-protocol -p folio-tests)
COMPONENT_PACKAGES=(-p folio-guest -p folio-users -p folio-content -p folio-media -p folio-meta -p folio-graphql -p folio-search -p folio-notifications -p folio-publishing -p folio-flags -p folio-analytics -p folio-billing)

step "build host and components"
cargo build --release --locked "${NATIVE_PACKAGES[@]}"
"$CARGO_TARGET_DIR/release/folio" build --manifest spin.toml
cargo build --release --locked --target wasm32-wasip2 --target-dir target \
  -p folio-fixtures -p folio-fixture-unlinkable -p folio-fixture-state -p folio-fixture-events -p folio-hello -p folio-spin-shim -p folio-spin-events -p folio-spin-cron -p folio-spin-gateway

step "backends on loopback"
if ! wait "$servers_installed"; then
  cat "$servers_log" >&2
  echo "installing the test servers failed" >&2
  exit 1
fi
FOLIO_TEST_POSTGRES_URL="$(bash infra/postgres.sh)"
export FOLIO_TEST_POSTGRES_URL
FOLIO_TEST_REDIS_URL="$(bash infra/redis.sh)"
export FOLIO_TEST_REDIS_URL
eval "$(bash infra/s3.sh)"
# A fresh (in-memory) broker for every run: the Kafka tests start new
# consumer groups, which replay the topics from the beginning, and a broker
# left running by earlier runs would hand each of them every event those
# runs made (one notification test then waited behind hundreds of old
# welcome mails).
bash infra/kafka.sh stop
FOLIO_TEST_KAFKA_BROKERS="$(bash infra/kafka.sh)"
export FOLIO_TEST_KAFKA_BROKERS
FOLIO_TEST_TANSU="$(PATH="$HOME/.cargo/bin:$PATH" command -v tansu)"
export FOLIO_TEST_TANSU
# Python with aiosmtpd (the SMTP server) and http-ece (the push receiver).
FOLIO_TEST_PYTHON="$(bash infra/pytools.sh)"
export FOLIO_TEST_PYTHON

step "kubernetes manifests and helm chart (offline)"
if ! command -v npm >/dev/null; then
  echo "installing npm" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
bash infra/k8s-check.sh "$CARGO_TARGET_DIR/release/folio"

step "the same components under a real Spin (when one is here)"
bash infra/spin-check.sh "$CARGO_TARGET_DIR/release/folio"

step "tests"
# The components' unit tests run apart: in one invocation with the host's
# crates, their dependencies' features (parquet's turn on zerocopy's and
# ahash's) would change those of wasmtime's and sqlx's dependencies, and the
# host would be compiled a second time.
cargo test --release --locked "${COMPONENT_PACKAGES[@]}"
cargo test --release --locked "${NATIVE_PACKAGES[@]}"

step "fuzz the documented API (schemathesis)"
bash infra/fuzz.sh
step "done"
