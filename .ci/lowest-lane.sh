#!/usr/bin/env bash
# Lowest lane: the suite (browser tests aside) on the lowest versions that
# pyproject.toml declares for the dependencies that float most
# (.ci/lowest.txt: huggingface_hub, litellm, jupyter_server).
#
#   bash .ci/lowest-lane.sh            # create/refresh .venv-lowest, run the suite
#   bash .ci/lowest-lane.sh -k hub     # extra arguments go to pytest
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.venv-lowest
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[test]" -c .ci/lowest.txt
"$VENV/bin/python" .ci/versions.py "lowest lane"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/browser "$@"
