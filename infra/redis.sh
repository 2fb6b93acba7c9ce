#!/usr/bin/env bash
# Starts a Redis server of Folio's own on 127.0.0.1 (idempotent), installing
# it when missing, and prints its URL for `[key_value_store.NAME] type = "redis"`.
#   bash infra/redis.sh          # start (or confirm running)
#   bash infra/redis.sh stop
set -euo pipefail

PORT="${FOLIO_REDIS_PORT:-56379}"
DATA="${FOLIO_REDIS_DIR:-/var/tmp/folio-redis}"

if ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if [ "${1:-start}" = stop ]; then
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  exit 0
fi
if ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
  mkdir -p "$DATA"
  redis-server --bind 127.0.0.1 --port "$PORT" --dir "$DATA" --appendonly yes \
    --daemonize yes --logfile "$DATA/redis.log" --save ""
  for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "redis://127.0.0.1:$PORT"
