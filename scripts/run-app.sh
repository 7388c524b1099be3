#!/usr/bin/env bash
# Install (first time) and start AReLU Lab on http://localhost:8501 (local only; see README to share it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py "$@"
