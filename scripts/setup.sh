#!/usr/bin/env bash
# Create .venv and install cdmtehr with its test and report extras.
# The CPU build of torch goes in first: an unpinned torch would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    # torch==2.13.0 is the CPU wheel available offline on our machines; elsewhere use
    #   pip install torch --index-url https://download.pytorch.org/whl/cpu
    .venv/bin/python -m pip install --quiet "torch==${CDMTEHR_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
