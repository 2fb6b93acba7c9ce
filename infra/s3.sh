#!/usr/bin/env bash
# Starts a single-node Garage (an S3 server) of Folio's own on 127.0.0.1
# (idempotent), installing it when missing, with a dev-only key and a test
# bucket, and prints the variables the object-storage tests read:
#   eval "$(bash infra/s3.sh)"   # start (or confirm running), export the vars
#   bash infra/s3.sh stop
#   bash infra/s3.sh install   # only install garage when missing
# The key below is for this loopback test server only; never reuse it.
set -euo pipefail

S3_PORT="${FOLIO_S3_PORT:-53900}"
RPC_PORT="${FOLIO_S3_RPC_PORT:-53901}"
ADMIN_PORT="${FOLIO_S3_ADMIN_PORT:-53903}"
DATA="${FOLIO_S3_DIR:-/var/tmp/folio-garage}"
BUCKET="${FOLIO_S3_BUCKET:-folio-test}"
KEY_ID="GK0f0110de0000000000000000"
SECRET="f0110de0000000000000000000000000000000000000000000000000000f0110"
CONFIG="$DATA/garage.toml"

if ! command -v garage >/dev/null; then
  if [ -x "$HOME/.cargo/bin/garage" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "installing garage 2.5.0 (cargo install, minutes on 2 cores)" >&2
    bash "$(dirname "$0")/cargo-install.sh" garage 2.5.0 >&2
  fi
fi
[ "${1:-start}" = install ] && exit 0
g() { garage -c "$CONFIG" "$@"; }

if [ "${1:-start}" = stop ]; then
  if [ -f "$DATA/garage.pid" ]; then
    kill "$(cat "$DATA/garage.pid")" 2>/dev/null || true
    rm -f "$DATA/garage.pid"
  fi
  exit 0
fi

mkdir -p "$DATA/meta" "$DATA/data"
if [ ! -f "$CONFIG" ]; then
  cat > "$CONFIG" <<TOML
metadata_dir = "$DATA/meta"
data_dir = "$DATA/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
fi

running() { [ -f "$DATA/garage.pid" ] && kill -0 "$(cat "$DATA/garage.pid")" 2>/dev/null; }
if ! running; then
  nohup garage -c "$CONFIG" server >"$DATA/garage.log" 2>&1 &
  echo $! > "$DATA/garage.pid"
  for _ in $(seq 100); do g status >/dev/null 2>&1 && break; sleep 0.1; done
fi

if g layout show 2>/dev/null | grep -q "No nodes currently have a role"; then
  node="$(g node id -q | cut -d@ -f1)"
  g layout assign -z dc1 -c 1G "$node" >/dev/null
  g layout apply --version 1 >/dev/null
fi
g key info "$KEY_ID" >/dev/null 2>&1 || g key import --yes -n folio-dev "$KEY_ID" "$SECRET" >/dev/null
g bucket info "$BUCKET" >/dev/null 2>&1 || g bucket create "$BUCKET" >/dev/null
g bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null

echo "export FOLIO_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
echo "export FOLIO_TEST_S3_BUCKET=$BUCKET"
echo "export FOLIO_TEST_S3_ACCESS_KEY_ID=$KEY_ID"
echo "export FOLIO_TEST_S3_SECRET_ACCESS_KEY=$SECRET"
echo "export FOLIO_TEST_S3_REGION=garage"
