#!/usr/bin/env bash
# Install leakguard into .venv at the repository root.
#   scripts/install.sh          runtime only (what `make demo` needs)
#   scripts/install.sh --dev    plus the test tools and the Debian packages the tests start
# Idempotent: a second run only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
dev=false
[ "${1:-}" = "--dev" ] && dev=true

# Debian packages the integration tests start for real: a ClickHouse server (18.16),
# Chromium for the console's Playwright browser test, and stunnel4, the TLS terminator in
# front of Tansu for the Kafka TLS test (tests/streams/test_kafka_tls.py).
apt_packages=(clickhouse-server clickhouse-client chromium stunnel4)
if $dev; then
  missing=()
  for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    echo "installing Debian packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if $dev; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "leakguard installed in .venv ($(.venv/bin/python --version))"
