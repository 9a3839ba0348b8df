#!/usr/bin/env bash
# Install leakguard into .venv at the repository root.
#   scripts/install.sh          runtime only: every role, what `make demo` needs (the `demo`
#                               extra; one role alone: pip install ".[edge]", see docs/deploy.md)
#   scripts/install.sh --dev    plus the test tools and the Debian packages the tests start
# Idempotent: a second run only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
dev=false
[ "${1:-}" = "--dev" ] && dev=true
extra=demo
$dev && extra=dev

# One line per step, so a first run (minutes, gigabytes) says what it is doing.
step() { echo "==> $*"; }

# Debian packages the integration tests start for real: a ClickHouse server (18.16),
# Chromium for the console's Playwright browser test, stunnel4, the TLS terminator in
# front of Tansu for the Kafka TLS test (tests/streams/test_kafka_tls.py), and prometheus,
# whose promtool evaluates the alert rules' PromQL (tests/sinks/test_alert_rules.py), and
# zookeeper (with its Java runtime), which coordinates the two-replica ClickHouse cluster
# of tests/sinks/test_clickhouse_cluster.py.
apt_packages=(clickhouse-server clickhouse-client chromium stunnel4 prometheus zookeeper)
# Node.js runs s3rver, the durable broker's storage (`leakguard stack up --durable`); a
# machine that already has node and npm (another distribution's package) keeps them.
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
if $dev; then
  missing=()
  for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    step "installing Debian packages: ${missing[*]} (apt-get update first)"
    "${sudo_cmd[@]}" apt-get update -qq
    # One line per package as it is set up, so a long install shows it is moving.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -o Dpkg::Use-Pty=0 \
      "${missing[@]}" | sed -un 's/^Setting up \([^ ]*\).*/  set up \1/p'
  fi
fi

# A first install shows pip's own lines and download bars (torch alone is gigabytes); a later
# run, which mostly finds everything installed, stays quiet.
pip_verbosity=(-q)
if [ ! -x .venv/bin/python ]; then
  step "creating .venv ($("$PYTHON" --version))"
  "$PYTHON" -m venv .venv
  pip_verbosity=()
fi
step "upgrading pip in .venv"
.venv/bin/python -m pip install -q --upgrade pip
step "installing leakguard[$extra] into .venv (a first install downloads about 7 GB: minutes)"
.venv/bin/python -m pip install "${pip_verbosity[@]}" -e ".[$extra]"

# npm packages (package.json) into ./node_modules, again only when the lock file changed.
if command -v npm >/dev/null 2>&1; then
  if ! cmp -s package-lock.json node_modules/.leakguard-installed-lock 2>/dev/null; then
    step "installing npm packages (s3rver, the durable stack's storage) into node_modules"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.leakguard-installed-lock
  fi
else
  echo "npm not found: \`leakguard stack up --durable\` needs Node.js (scripts/install.sh --dev installs it)"
fi
echo "leakguard installed in .venv ($(.venv/bin/python --version))"
