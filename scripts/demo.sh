#!/usr/bin/env bash
# Install floatsim into its own virtual environment, .venv-demo, and show it at work.
#
#   ./scripts/demo.sh
#
# Runs `python -m floatsim.demo` where floatsim/demo.py exists; until then it
# shows the command-line tool on the OCP FP8 and FP4 formats. Extra arguments
# go to the demo. PYTHON picks the interpreter that creates the venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv-demo
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "demo.sh: creating $venv with ${PYTHON:-python3}"
    "${PYTHON:-python3}" -m venv "$venv"
fi

# The demo needs only the core (numpy, numba). If it ever needs torch, install
# 'torch==2.13.0' here: an unpinned torch pulls a multi-GB CUDA build.
echo "demo.sh: installing floatsim into $venv"
# Editable, so the demo always runs this checkout's code.
"$py" -m pip install --quiet --disable-pip-version-check -e .

if [ -f floatsim/demo.py ]; then
    exec "$py" -m floatsim.demo "$@"
fi
echo
echo "\$ floatsim info float8_e4m3fn float8_e5m2 float4_e2m1fn"
"$venv/bin/floatsim" info float8_e4m3fn float8_e5m2 float4_e2m1fn
echo
echo "\$ floatsim table e2m1"
"$venv/bin/floatsim" table e2m1
