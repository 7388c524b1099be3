#!/usr/bin/env bash
# Install (first time) and run every test: library, CLI, Streamlit AppTest pages and a real browser.
# The real MNIST must be reachable: set ARELU_DATA_DIR (CI: ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
# The browser test drives Debian's Chromium through Playwright (Playwright's own download is not used);
# the torch.compile test builds C++ (g++). Installed here when missing and we may (root with apt-get).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null) || echo "warning: could not install ${missing[*]}"
fi
export ARELU_DATA_DIR="${ARELU_DATA_DIR:-$(pwd)/../shared/data}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
