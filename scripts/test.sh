#!/usr/bin/env bash
# Lint and test floatsim in its own virtual environments.
#
#   ./scripts/test.sh                    # ruff + the default test suite (what CI runs)
#   ./scripts/test.sh -m "slow or not slow"   # extra arguments go to pytest
#
# 1. .venv-test: floatsim with every extra (dev, cuda, torch, jax, docs);
#    ruff, then the test suite with doctests on 2 workers, then the
#    documentation site (scripts/docs.sh: Sphinx, warnings as errors, the
#    notebooks executed; FLOATSIM_SKIP_DOCS=1 skips it).
# 2. .venv-core: floatsim alone (numpy, numba, tqdm) plus pytest: the tests
#    of a core-only install (tests/test_core_install.py, tests/test_backends.py),
#    so that every optional import is exercised both ways.  Compiled kernels
#    are shared with 1. (same numba and numpy: floatsim/cache.py).
#
# The first run creates the venvs; later runs reuse them and only reinstall
# the package (quick). FLOATSIM_SETUP_ONLY=1 stops after the install (make
# venv); FLOATSIM_SKIP_CORE=1 skips step 2. PYTHON picks the interpreter that
# creates the venvs (default: python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PIP=(-m pip install --quiet --disable-pip-version-check)

make_venv() {  # make_venv DIR
    if [ ! -x "$1/bin/python" ]; then
        echo "test.sh: creating $1 with ${PYTHON:-python3}"
        "${PYTHON:-python3}" -m venv "$1"
    fi
}

venv=.venv-test
py="$venv/bin/python"
make_venv "$venv"
# torch first and pinned: on these machines torch==2.13.0 is a CPU wheel on
# local disk, while an open range (as the torch extra says, torch>=2.4) would
# pull a multi-GB CUDA build.  With 2.13.0 installed the extra adds nothing.
echo "test.sh: installing torch==2.13.0 and floatsim[dev,cuda,torch,jax,docs] (editable) into $venv"
"$py" "${PIP[@]}" torch==2.13.0
"$py" "${PIP[@]}" -e '.[dev,cuda,torch,jax,docs]'

core=.venv-core
if [ "${FLOATSIM_SKIP_CORE:-0}" != 1 ]; then
    make_venv "$core"
    echo "test.sh: installing floatsim alone (editable) and pytest into $core"
    "$core/bin/python" "${PIP[@]}" -e . pytest
fi

if [ "${FLOATSIM_SETUP_ONLY:-0}" = 1 ]; then
    exit 0
fi

echo "test.sh: ruff check ."
"$py" -m ruff check .

echo "test.sh: pytest"
status=0
"$py" -m pytest -n 2 tests floatsim floatsim_torch floatsim_jax --doctest-modules -q --durations=30 "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests (exit 5); that is a failure" >&2
fi

if [ "${FLOATSIM_SKIP_DOCS:-0}" != 1 ]; then
    # After the tests: the kernels the notebooks call are compiled and cached by now.
    echo "test.sh: the documentation site (scripts/docs.sh)"
    docs_status=0
    PYTHON="$py" ./scripts/docs.sh || docs_status=$?
    if [ "$status" -eq 0 ]; then
        status=$docs_status
    fi
fi

if [ "${FLOATSIM_SKIP_CORE:-0}" != 1 ]; then
    echo "test.sh: pytest in a core-only install ($core: no ml_dtypes, numba-cuda, torch, jax)"
    core_status=0
    "$core/bin/python" -m pytest -q -p no:cacheprovider tests/test_core_install.py \
        tests/test_backends.py "$@" || core_status=$?
    if [ "$status" -eq 0 ]; then
        status=$core_status
    fi
fi
exit "$status"
