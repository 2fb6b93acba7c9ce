#!/usr/bin/env bash
# Starts a Kafka-protocol broker of Folio's own on 127.0.0.1 (idempotent):
# tansu (crates.io, an Apache Kafka protocol broker in Rust), installed with
# cargo when missing, and prints its address for `[event_log] brokers = ...`.
#   bash infra/kafka.sh          # start (or confirm running)
#   bash infra/kafka.sh stop
#   bash infra/kafka.sh install   # only install tansu when missing
# Storage is tansu's in-memory engine: its Postgres engine needs a schema the
# crate does not ship. A restart of this broker therefore starts empty.
set -euo pipefail

PORT="${FOLIO_KAFKA_PORT:-59092}"
DIR="${FOLIO_KAFKA_DIR:-/var/tmp/folio-kafka}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v tansu >/dev/null; then
  echo "installing tansu 0.6.0 (cargo install, minutes on 2 cores)..." >&2
  # dynostore is its in-memory engine; nothing here uses its Postgres one.
  bash "$(dirname "$0")/cargo-install.sh" tansu 0.6.0 --features dynostore >&2
fi
[ "${1:-start}" = install ] && exit 0
if [ "${1:-start}" = stop ]; then
  [ -f "$DIR/pid" ] && kill "$(cat "$DIR/pid")" 2>/dev/null || true
  rm -f "$DIR/pid"
  exit 0
fi
up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if ! up; then
  mkdir -p "$DIR"
  nohup tansu broker \
    --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >"$DIR/broker.log" 2>&1 &
  echo $! >"$DIR/pid"
  for _ in $(seq 100); do up && break; sleep 0.1; done
  up || { echo "tansu did not start; see $DIR/broker.log" >&2; exit 1; }
fi
echo "127.0.0.1:$PORT"
