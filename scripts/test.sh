#!/usr/bin/env bash
# The whole gate, from a fresh clone: install everything, lint, type-check, run every test.
# `.ci/run` calls exactly this (through `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
scripts/install.sh --dev
# Label Studio in its own venv: the annotation tests start it.
scripts/install_label_studio.sh

packages=(leakguard schemas detector streams sinks retrain infra)
echo "== ruff"
.venv/bin/ruff check "${packages[@]}" tests bench
.venv/bin/ruff format --check "${packages[@]}" tests bench
echo "== mypy"
.venv/bin/mypy
echo "== import layers"
.venv/bin/lint-imports
echo "== pytest"
.venv/bin/pytest --durations=30 "$@"
echo "test gate passed in $(( $(date +%s) - start )) s"
