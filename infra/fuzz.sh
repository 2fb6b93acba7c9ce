#!/usr/bin/env bash
# Fuzzes every documented route with schemathesis against the combined
# OpenAPI document (/api/v1/openapi.json): the app of spin.toml on embedded
# backends, a fresh data directory, signed in as the bootstrap admin.
# Fails on any 5xx, any response that does not match its documented schema or
# content type.
#   bash infra/fuzz.sh        (infra/test.sh runs it after the cargo tests)
# Needs the host and the components built (test.sh has done that by then).
# FOLIO_FUZZ_EXAMPLES (default 100) bounds the test cases per operation and
# phase; FOLIO_FUZZ_SEED makes a run repeatable; FOLIO_FUZZ_REPORT_DIR keeps
# the JUnit report and the HAR of every exchange.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/folio/target}"
SCHEMATHESIS_VERSION=4.32.5
VENV="$HOME/.cache/folio/schemathesis-$SCHEMATHESIS_VERSION"
FOLIO="$CARGO_TARGET_DIR/release/folio"
EXAMPLES="${FOLIO_FUZZ_EXAMPLES:-100}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$FOLIO" ] || { echo "$FOLIO is missing: cargo build --release -p folio" >&2; exit 1; }

work="$(mktemp -d)"
host_pid=""
cleanup() {
  if [ -n "$host_pid" ]; then
    kill "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The fuzzer sends hundreds of requests to each route from one address: the
# rate limits (tested on their own) would answer most of them with 429 and
# hide what the components do with the inputs.
cat >"$work/runtime-config.toml" <<'TOML'
[rate_limits]
exempt = ["127.0.0.1"]
TOML

admin_email="fuzz-admin@folio.test"
admin_password="fuzzing admin passphrase $RANDOM$RANDOM"
# Live inbox streams end after a second, so fuzzing them does not wait out
# the default 25.
FOLIO_VAR_NOTIFICATION_STREAM_SECONDS=1 \
FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL="$admin_email" \
FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD="$admin_password" \
  "$FOLIO" up --manifest spin.toml --listen 127.0.0.1:0 --data-dir "$work/data" \
  --runtime-config "$work/runtime-config.toml" \
  >"$work/host.log" 2>"$work/host.err" &
host_pid=$!

# The host logs `serving` with the address it bound (port 0: a free one).
addr=""
for _ in $(seq 1 600); do
  addr="$(python3 - "$work/host.log" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    if v.get("message") == "serving":
        print(v["data"]["address"])
        break
EOF
)"
  [ -n "$addr" ] && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$work/host.err" >&2; echo "folio exited" >&2; exit 1; }
  sleep 0.2
done
[ -n "$addr" ] || { echo "folio did not start" >&2; exit 1; }
base="http://$addr"
echo "folio serving on $base"

token="$(curl -sS --fail-with-body -H 'content-type: application/json' \
  -d "{\"email\":\"$admin_email\",\"password\":\"$admin_password\"}" \
  "$base/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"

# Checks: no 5xx, bodies match their schemas, content types as documented.
# Every operation is fuzzed, the password-hashing auth ones too: with the
# per-address throttle (429 after 5 failures) the whole run takes ~25 s.
# The run writes as the admin (creates, edits, deletes content and
# categories) in its own throwaway data directory.
# Run from the scratch directory: schemathesis keeps a cache (.schemathesis/)
# in its working directory. One worker: with two threads, Hypothesis's
# shared caches raced once (a FlakyFailure inside schemathesis while it built
# a test case, not an answer of ours) and failed the run; one costs ~55 s.
status=0
(cd "$work" && PYTHONPATH="$root/infra" SCHEMATHESIS_HOOKS=fuzz_hooks \
  "$VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --max-examples "$EXAMPLES" \
  --workers 1 \
  --request-timeout 30 \
  --generation-database none \
  ${FOLIO_FUZZ_SEED:+--seed "$FOLIO_FUZZ_SEED"} \
  --no-color \
  --report junit,har --report-dir "${FOLIO_FUZZ_REPORT_DIR:-$work/report}") || status=$?

if [ "$status" -ne 0 ]; then
  echo "schemathesis found problems (exit $status); host errors:" >&2
  grep -E '"level":"(ERROR|WARN)"' "$work/host.log" | tail -n 20 >&2 || true
fi
exit "$status"
