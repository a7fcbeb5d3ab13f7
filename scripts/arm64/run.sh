#!/usr/bin/env bash
# Run an edge-infer command on arm64 under qemu user-mode emulation, with edge-infer installed from a bundle's wheel
# and nothing else but the aarch64 runtime wheels (onnxruntime, numpy, opencv-python-headless, pillow).
#
#   bash scripts/arm64/setup.sh                                   # once: arm64 Debian root + aarch64 wheels
#   bash scripts/arm64/run.sh out/efficientnet_lite0-rpi5 doctor out/efficientnet_lite0-rpi5
#   bash scripts/arm64/run.sh out/efficientnet_lite0-rpi5 predict out/efficientnet_lite0-rpi5/efficientnet_lite0.onnx \
#       out/efficientnet_lite0-rpi5/samples/
#
# The CPU is emulated (QEMU_CPU=cortex-a76, the Raspberry Pi 5's core): results are real arm64 results, timings are
# meaningless (an emulated instruction costs 10-100x a native one). With EDGE_INFER_MODULES_OUT=FILE the top-level
# modules the command imported are written to FILE as JSON (the test checks that no torch/exporters were needed).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${EDGE_INFER_ARM64_CACHE:-$REPO/.cache/arm64}"
BUNDLE="${1:?usage: run.sh BUNDLE_FOLDER EDGE_INFER_ARGS...}"
shift
if [ ! -f "$CACHE/site/.complete" ] || [ ! -x "$CACHE/root/usr/bin/python3.11" ]; then
  echo "scripts/arm64/run.sh: no arm64 root in $CACHE; run: bash scripts/arm64/setup.sh" >&2
  exit 2
fi
WHEEL="$(ls "$BUNDLE"/wheels/edge_infer-*.whl 2>/dev/null | tail -1 || true)"
if [ -z "$WHEEL" ]; then
  echo "scripts/arm64/run.sh: $BUNDLE has no wheels/edge_infer-*.whl; build it with edge-infer export --target NAME" >&2
  exit 2
fi
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/edge-infer-arm64.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
python3 -m zipfile -e "$WHEEL" "$STAGE"   # "pip install" of a pure-Python wheel is an unzip onto sys.path
DRIVER='
import json, os, sys
from edge_infer.cli.main import main
try:
    rc = main(sys.argv[1:])
finally:
    out = os.environ.get("EDGE_INFER_MODULES_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(sorted({m.split(".")[0] for m in sys.modules}), f)
sys.exit(rc)
'
export QEMU_CPU="${QEMU_CPU:-cortex-a76}"
PYTHONPATH="$STAGE:$CACHE/site" PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
  qemu-aarch64-static -L "$CACHE/root" "$CACHE/root/usr/bin/python3.11" -c "$DRIVER" "$@"
