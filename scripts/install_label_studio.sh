#!/usr/bin/env bash
# Install Label Studio into its own virtual environment, .venv-labelstudio at the repository
# root, so that its many pinned dependencies (Django, its own pydantic...) never touch
# leakguard's .venv. The annotation tests start it from there; docs/annotation.md says how to
# run it beside leakguard.
#   scripts/install_label_studio.sh            install (skipped when the version is present)
#   LABEL_STUDIO_VERSION=1.23.1 scripts/...     another 1.23.x release
# Idempotent: a second run only checks the installed version.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
version=${LABEL_STUDIO_VERSION:-1.23.2}
venv=.venv-labelstudio

if [ -x "$venv/bin/label-studio" ] \
  && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null)" = "$version" ]; then
  echo "label-studio $version already installed in $venv"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# Its dependencies are held at the set it was tested with: a new release of one (sentry-sdk
# 3.0.0) stopped it from starting, on a clone that installed fresh.
"$venv/bin/python" -m pip install -q "label-studio==$version" -c scripts/label-studio-constraints.txt
echo "label-studio $version installed in $venv"
