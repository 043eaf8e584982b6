#!/usr/bin/env bash
# Creates (or reuses) the project's .venv at the repository root and installs the pinned stack.
# Re-installs only when pyproject.toml or requirements/constraints.txt changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.morph_assets-installed
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[setup] installing the pinned stack into .venv (first run: about 1-3 minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch==2.13.0 is pinned: pip takes the local CPU wheel where one is offered (find-links),
    # otherwise the CPU build from PyPI; cellpose 3.1.x needs no torchvision.
    .venv/bin/python -m pip install --quiet -c requirements/constraints.txt -e ".[test]"
    echo "$want" > "$stamp"
else
    echo "[setup] .venv is up to date"
fi
