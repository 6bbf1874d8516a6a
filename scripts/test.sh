#!/usr/bin/env bash
# Lint and test floatsim in its own virtual environment, .venv-test.
#
#   ./scripts/test.sh                    # ruff + the default test suite (what CI runs)
#   ./scripts/test.sh -m "slow or not slow"   # extra arguments go to pytest
#
# The first run creates .venv-test; later runs reuse it and only reinstall the
# package (quick). FLOATSIM_SETUP_ONLY=1 stops after the install (make venv).
# PYTHON picks the interpreter that creates the venv (default: python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv-test
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "test.sh: creating $venv with ${PYTHON:-python3}"
    "${PYTHON:-python3}" -m venv "$venv"
fi

# dev: pytest, xdist, hypothesis, ml_dtypes, gfloat, ruff.
# cuda: numba-cuda[cu13], so the CUDA-simulator and PTX tests run without a GPU.
# (When tests need torch, add 'torch==2.13.0' here: an unpinned torch pulls a CUDA build.)
echo "test.sh: installing floatsim[dev,cuda] (editable) into $venv"
"$py" -m pip install --quiet --disable-pip-version-check -e '.[dev,cuda]'

if [ "${FLOATSIM_SETUP_ONLY:-0}" = 1 ]; then
    exit 0
fi

echo "test.sh: ruff check ."
"$py" -m ruff check .

echo "test.sh: pytest"
status=0
"$py" -m pytest -n 2 tests floatsim --doctest-modules -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests (exit 5); that is a failure" >&2
fi
exit "$status"
