#!/usr/bin/env bash
# Install floatsim into its own virtual environment, .venv-demo, and run the demo:
# a small GPT trained on the Python standard library's source under FP32, BF16,
# FP8, MXFP8, MXFP6, MXFP4, Quartet-style MXFP4 and NVFP4 (emulated), compared in
# a table, with the loss curves in floatsim-demo/loss_curves.png.
#
#   ./scripts/demo.sh                # a few minutes on a 2-core CPU
#   ./scripts/demo.sh --quick        # about a minute
#   ./scripts/demo.sh --device cuda  # on a GPU (torch must then be a CUDA build)
#
# Extra arguments go to `floatsim demo` (`floatsim demo -h` lists them).
# PYTHON picks the interpreter that creates the venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv-demo
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "demo.sh: creating $venv with ${PYTHON:-python3}"
    "${PYTHON:-python3}" -m venv "$venv"
fi

# torch is pinned: an unpinned torch pulls a multi-GB CUDA build on these machines
# (torch==2.13.0 resolves to the installed CPU wheel where there is one).
echo "demo.sh: installing floatsim, torch==2.13.0, matplotlib and tqdm into $venv"
# Editable, so the demo always runs this checkout's code.
"$py" -m pip install --quiet --disable-pip-version-check -e . "torch==2.13.0" matplotlib tqdm

exec "$venv/bin/floatsim" demo "$@"
