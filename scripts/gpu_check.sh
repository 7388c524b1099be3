#!/usr/bin/env bash
# Every CUDA path of AReLU Lab checked by one bounded command (about 8 minutes on one GPU):
#   scripts/gpu_check.sh OUTDIR        figures as JSON under OUTDIR, summary.txt on one screen
# Each part has its own time limit inside a 480 s budget (scripts/gpu_check.py says what runs); this
# wrapper's `timeout` is the outer bound. Without CUDA it says so, checks its parts resolve, exits 0.
# Installs nothing: needs torch (CUDA), Triton, numba, timm, pytest + pytest-timeout, and for the
# browser race streamlit, playwright and Chromium (ARELU_CHROMIUM); MNIST under ARELU_DATA_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then echo "usage: scripts/gpu_check.sh OUTDIR [--rehearse] [--budget S]" >&2; exit 2; fi
PY="${PYTHON:-}"
if [ -z "$PY" ]; then if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout --kill-after=20 "${ARELU_GPU_CHECK_TIMEOUT_S:-520}" "$PY" scripts/gpu_check.py "$@"
