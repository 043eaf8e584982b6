#!/usr/bin/env bash
# `make soak`: the soak test of the service deployment (morph_assets/soak.py). Arguments go to it,
# e.g. deploy/soak.sh --plates 2 --keep. Needs Debian's postgresql and redis-server, and the
# deploy extra (dagster-postgres, dagster-celery[redis]) in the venv.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${MORPH_ASSETS_PYTHON:-$repo/.venv/bin/python}"
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" MORPH_ASSETS_PYTHON="$py"
exec "$py" -m morph_assets.soak "$@"
