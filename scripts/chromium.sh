#!/usr/bin/env bash
# Make sure Debian's Chromium is installed, for the offline-docs browser test (tests/test_serve_docs.py).
# Quiet and idempotent: nothing to do when `chromium` is already on PATH (the usual case after the first run).
# Never fails the caller: when Chromium cannot be installed (not root, no apt-get, no package registry), it says so
# once and the browser test skips, naming this script.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: Chromium is not installed and cannot be (needs root and apt-get); the browser test will skip" >&2
  exit 0
fi
echo "chromium.sh: installing Debian's chromium for the offline-docs browser test (once; about a minute)..." >&2
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=2 -q)
install() { apt-get install -y --no-install-recommends "${apt_opts[@]}" chromium >>"$log" 2>&1; }
# The package lists may be missing or stale on a fresh machine: refresh them only when the install needs it.
if ! install && ! { apt-get update "${apt_opts[@]}" >>"$log" 2>&1 && install; }; then
  tail -n 5 "$log" >&2
  echo "chromium.sh: could not install chromium (log above); the browser test will skip" >&2
fi
rm -f "$log"
exit 0
