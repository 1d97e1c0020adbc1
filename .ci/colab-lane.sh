#!/usr/bin/env bash
# Colab lane: run the kernel tests on Google Colab's pins
# (ipykernel 6.17.1, IPython 7.34.0, ipywidgets 7.7.1).
#
#   bash .ci/colab-lane.sh            # create/refresh .venv-colab, run tests/kernel
#   bash .ci/colab-lane.sh -k approve # extra arguments go to pytest
#
# PYTHON selects the interpreter the venv is made from (default: python3).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.venv-colab
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[test]" \
  "ipykernel==6.17.1" "ipython==7.34.0" "ipywidgets==7.7.1" "tornado==6.4.2" "jupyter_client<8"

"$VENV/bin/python" .ci/versions.py "colab lane"

"$VENV/bin/python" -m pytest tests/kernel -q -p no:cacheprovider "$@"
