#!/usr/bin/env bash
# The test run: same set-up as the demo (plus Chromium for the browser test), then pytest (slow tests excluded unless EDGE_INFER_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/chromium.sh  # Debian's Chromium for the offline-docs browser test; a no-op once installed
if [ "${EDGE_INFER_SLOW:-0}" = "1" ]; then
  exec .venv/bin/python -m pytest "$@"
else
  exec .venv/bin/python -m pytest -m "not slow" "$@"
fi
