#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, warnings as errors.
#
#   ./scripts/docs.sh                 # with .venv-test's python (make docs installs the extra)
#   PYTHON=/path/to/python ./scripts/docs.sh
#   ./scripts/docs.sh -E              # extra arguments go to sphinx-build (-E: rebuild everything)
#
# The notebooks are executed through MyST-NB's jupyter-cache, in a folder
# keyed by the package sources (docs/_ext/apipages.py, notebook_cache), so an
# unchanged tree rebuilds in seconds.  docs/conf.py has the settings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py="${PYTHON:-.venv-test/bin/python}"
start=$(date +%s)
# PYTHONPATH: the notebooks' kernels import this checkout's floatsim even
# where the venv holds another install of it.
# FLOATSIM_QUIET: a kernel's first-use compile message would land in a cell's output.
FLOATSIM_QUIET=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$py" -m sphinx -W --keep-going -b html -c docs \
    "$@" . docs/_build/html
echo "docs.sh: built docs/_build/html in $(( $(date +%s) - start )) s (open docs/_build/html/index.html)"
