#!/usr/bin/env bash
# Installs (when missing) the Python virtualenv with the tools that the
# black-box tests run (tests/support/smtp_sink.py: a real SMTP server; the
# webhook receiver and feed parser of the publishing tests, the OTLP
# collector of the observability tests) and
# prints the path of its interpreter; nothing else goes to stdout.
#   python="$(bash infra/pytools.sh)"
# Fast when installed: a marker holding the pinned set, no pip call.
set -euo pipefail

# Bump the suffix whenever PINS changes, so an old venv is never patched over.
VENV="$HOME/.cache/folio/pytools-4"
PINS="aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0 cffi==2.1.1 cryptography==50.0.2 duckdb==2.0.1 feedparser==6.0.14 feedparser-sgmllib==2.1.0 http-ece==1.2.1 opentelemetry-proto==1.45.2 protobuf==7.36.2 pycparser==3.12 standardwebhooks==1.1.0"
MARKER="$VENV/.folio-pins"

installed() { [ -x "$VENV/bin/python" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$PINS" ]; }

if ! installed; then
  mkdir -p "$(dirname "$VENV")"
  # Test binaries may call this concurrently: one installs, the others wait.
  exec 9>"$VENV.lock"
  flock 9
  if ! installed; then
    PY=python3
    # Debian's python3 ships venv without ensurepip unless python3-venv is in.
    if ! command -v "$PY" >/dev/null || ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
      echo "installing python3-venv" >&2
      sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv >&2
      PY=/usr/bin/python3
    fi
    echo "installing $PINS into $VENV" >&2
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" >&2
    # shellcheck disable=SC2086 # PINS is a list of requirement words
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check $PINS >&2
    echo "$PINS" >"$MARKER"
  fi
fi
echo "$VENV/bin/python"
