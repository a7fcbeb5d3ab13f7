#!/usr/bin/env bash
# The main job: export the default model, classify the sample photos, print a latency table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
edge-infer samples --out samples
edge-infer export --model efficientnet_lite0 --formats "${FORMATS:-onnx}" --out out/efficientnet_lite0
edge-infer predict out/efficientnet_lite0/efficientnet_lite0.onnx samples --top-k 3
# A careful latency table: warm-up apart, percentiles, cold start, memory, at 1 thread and all cores.
edge-infer bench out/efficientnet_lite0/*.onnx --threads "1,$(nproc)" --runs "${RUNS:-100}" --source samples
