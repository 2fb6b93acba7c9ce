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

# rdkafka builds librdkafka from source (configure + make, C, zlib).
missing=()
for tool in cc make perl pkg-config; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -f /usr/include/zlib.h ] || missing+=(zlib)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing build tools (missing: ${missing[*]})" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential perl pkg-config zlib1g-dev >/dev/null
fi

# The billing tests read invoice PDFs back with pdftotext.
if ! command -v pdftotext >/dev/null; then
  echo "installing poppler-utils" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi

# folio-transcode runs ffmpeg and ffprobe as child processes; its tests use real ones.
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  echo "installing ffmpeg" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
fi
