#!/usr/bin/env bash
# Install (first time) and run every test: library, CLI, Streamlit AppTest pages and a real browser.
# The real MNIST must be reachable: set ARELU_DATA_DIR (CI: ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
# The browser test drives Debian's Chromium through Playwright (Playwright's own download is not used).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium"
fi
export ARELU_DATA_DIR="${ARELU_DATA_DIR:-$(pwd)/../shared/data}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
