#!/usr/bin/env bash
# Starts a PostgreSQL server of Folio's own on 127.0.0.1 (idempotent):
# installs the server when missing, initialises a cluster once, and prints
# the admin URL to use as `[sqlite_database.NAME] type = "postgres"`.
#   bash infra/postgres.sh          # start (or confirm running)
#   bash infra/postgres.sh stop
set -euo pipefail

PORT="${FOLIO_PG_PORT:-55432}"
DATA="${FOLIO_PG_DIR:-/var/tmp/folio-postgres}"
PASSWORD="${FOLIO_PG_PASSWORD:-folio-dev-only}"

bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(bin_dir)" ] || [ ! -x "$(bin_dir)/initdb" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
BIN="$(bin_dir)"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-start}" = stop ]; then
  as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast stop || true
  exit 0
fi

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    pwfile="$(mktemp)"; echo "$PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
    as_postgres "$BIN/initdb" -D "$DATA" -U folio --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
    rm -f "$pwfile"
  fi
  as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA -c fsync=on -c max_connections=200" start >/dev/null
fi
echo "postgres://folio:$PASSWORD@127.0.0.1:$PORT/postgres"
