#!/usr/bin/env bash
# Build an arm64 (aarch64) Python userland that runs under qemu user-mode emulation on an x86-64 host, with the
# aarch64 wheels of edge-infer's runtime dependencies unpacked onto a folder for sys.path.
#
#   bash scripts/arm64/setup.sh          # idempotent; prints the cache folder at the end
#
# What it does (verified on Debian 12 x86-64):
#   1. apt-get installs qemu-user-static (7.2) and debootstrap if they are missing (needs root).
#   2. debootstrap --foreign --arch=arm64 downloads a minimal arm64 Debian bookworm with python3.11; the first stage
#      unpacks only the "required" packages, so every downloaded .deb is unpacked with dpkg -x (no chroot, no
#      second stage, no binfmt_misc registration needed: qemu-aarch64-static -L ROOT runs ROOT/usr/bin/python3.11).
#   3. pip download --platform manylinux_2_28_aarch64 --only-binary=:all: fetches the aarch64 cp311 wheels of
#      onnxruntime, numpy, opencv-python-headless and pillow, and unzips them into SITE (put it on PYTHONPATH).
#
# onnxruntime is pinned below 1.28 on the emulated side only: 1.28 and newer segfault at import under qemu 7.2
# (checked here); 1.27 and older run EfficientNet-Lite0 and match x86 to ~5e-6. Real arm64 devices are not affected.
#
# Layout under ${EDGE_INFER_ARM64_CACHE:-.cache/arm64} (git-ignored by a .gitignore the script writes there):
#   root/   the arm64 Debian root        wheels/  downloaded .whl files        site/  unzipped wheels (sys.path)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${EDGE_INFER_ARM64_CACHE:-$PWD/.cache/arm64}"
ROOT="$CACHE/root"
WHEELS="$CACHE/wheels"
SITE="$CACHE/site"
SUITE="${EDGE_INFER_ARM64_SUITE:-bookworm}"
MIRROR="${EDGE_INFER_ARM64_MIRROR:-http://deb.debian.org/debian}"
ORT_SPEC="${EDGE_INFER_ARM64_ORT:-onnxruntime<1.28}"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"

mkdir -p "$CACHE"
[ -f "$CACHE/../.gitignore" ] || printf '*\n' > "$CACHE/../.gitignore"

need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/arm64/setup.sh: needs ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  echo "installing ${need[*]} ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  echo "debootstrap --foreign --arch=arm64 $SUITE -> $ROOT ..."
  rm -rf "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3.11 \
    "$SUITE" "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
    dpkg -x "$deb" "$ROOT"
  done
  rm -f "$ROOT"/var/cache/apt/archives/*.deb
fi

if [ ! -f "$SITE/.complete" ]; then
  echo "downloading aarch64 wheels ($ORT_SPEC, numpy, opencv-python-headless, pillow) ..."
  rm -rf "$SITE"
  mkdir -p "$WHEELS" "$SITE"
  "$PY" -m pip download --quiet --dest "$WHEELS" --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    --only-binary=:all: --python-version 3.11 --implementation cp \
    "$ORT_SPEC" "numpy>=1.23" "opencv-python-headless>=4.8" "pillow>=10"
  for whl in "$WHEELS"/*.whl; do
    "$PY" -m zipfile -e "$whl" "$SITE"
  done
  touch "$SITE/.complete"
fi

export QEMU_CPU="${QEMU_CPU:-cortex-a76}"
PYTHONPATH="$SITE" PYTHONNOUSERSITE=1 qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python3.11" -c \
  'import platform, numpy, onnxruntime, cv2, PIL; print("arm64 python", platform.python_version(), platform.machine(), "| onnxruntime", onnxruntime.__version__, "| numpy", numpy.__version__, "| opencv", cv2.__version__, "| pillow", PIL.__version__)'
echo "ready: EDGE_INFER_ARM64_CACHE=$CACHE"
