#!/usr/bin/env bash
# Create .venv and install edge-infer with every extra, pinned by constraints.txt.
# Idempotent: skips the install when pyproject.toml and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.edge-infer-installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setting up .venv (first run installs torch and friends; a few minutes)..." >&2
  log=.venv/install.log
  if ! .venv/bin/python -m pip install -c constraints.txt -e ".[dev]" > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "set-up failed; full log in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
