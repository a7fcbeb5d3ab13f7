"""One int8 ONNX file, every set of kernels it meets on users' CPUs: are their answers the same, and does the int8
rule's verdict hold on each?

    .venv/bin/python benchmarks/int8_kernels.py out/efficientnet_lite0-rpi5/efficientnet_lite0.int8.onnx \
        --out benchmarks/results/<machine>/int8_kernels.json

The held-out verification images (those calibration never sees) are preprocessed once, then run, batch 1, through:

- the float QDQ graph (ONNX Runtime with graph optimizations off: DequantizeLinear, float Conv, QuantizeLinear),
  the verifier's exact32 reference until 2026-12-07;
- this machine's own kernels (all optimizations, no session option), and OpenVINO's on the same file;
- the integer kernels with ``session.x64quantprecision`` (32-bit sums on every CPU), the verifier's exact32 reference
  since 2026-12-07;
- ONNX Runtime's AVX2 kernels under ``qemu-x86_64 -cpu Haswell``, without and with that option (the ``pairs16``
  laptop and its exact configuration);
- ONNX Runtime's ARM64 kernels under ``qemu-aarch64`` on a Cortex-A76 (the Raspberry Pi 5's core), when the arm64
  userland of ``scripts/arm64/setup.sh`` is there.

Each is judged by the int8 rule against the fp32 ONNX file beside it, and every pair is compared: how many images
get bit-identical logits, the same top-1, and the largest logit difference. Emulated runs give real answers; their
timings mean nothing and are not taken.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.int8_runs import (  # noqa: E402
    EXACT,
    emulated_arm64,
    emulated_pairs16,
    held_out_setup,
    openvino_outputs,
    run_outputs,
)

KIND = "int8-kernels"
# name -> (how, run(model, batch, saved batch path, work folder) -> logits or None when not available here)
Runner = Callable[[Path, np.ndarray, Path, Path], "np.ndarray | None"]
KERNELS: dict[str, tuple[str, Runner]] = {
    "float-qdq": ("ONNX Runtime, graph optimizations off (float QDQ graph)",
                  lambda m, x, xp, w: run_outputs(m, x, {}, optimize=False)),
    "here": ("this machine's kernels, all optimizations, no session option", lambda m, x, xp, w: run_outputs(m, x, {})),
    "here-exact": ("this machine's kernels with session.x64quantprecision (the verifier's exact32 reference)",
                   lambda m, x, xp, w: run_outputs(m, x, EXACT)),
    "openvino": ("OpenVINO's CPU plugin on this machine running the same QDQ file (its own int8 kernels)",
                 lambda m, x, xp, w: openvino_outputs(m, x)),
    "avx2": ("ONNX Runtime AVX2 kernels under qemu-x86_64 -cpu Haswell (pairs16)",
             lambda m, x, xp, w: emulated_pairs16(m, xp, {}, w)),
    "avx2-exact": ("ONNX Runtime AVX2 kernels under qemu -cpu Haswell with session.x64quantprecision (u8 x u8)",
                   lambda m, x, xp, w: emulated_pairs16(m, xp, EXACT, w)),
    "arm64": ("ONNX Runtime ARM64 kernels under qemu-aarch64, Cortex-A76",
              lambda m, x, xp, w: emulated_arm64(m, xp, w)),
}  # fmt: skip


def fp32_beside(int8: Path) -> Path:
    """The fp32 ONNX file of the same model in the same folder (the reference)."""
    candidates = [p for p in int8.parent.glob("*.onnx") if p != int8 and "int8" not in p.name]
    if len(candidates) != 1:
        raise SystemExit(f"{int8.parent}: need exactly one fp32 .onnx beside the int8 file, found {len(candidates)}")
    return candidates[0]


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float | int]:
    """How close two kernels' logits are over the same images."""
    return {"identical_images": int((a == b).all(axis=1).sum()), "same_top1": int((a.argmax(1) == b.argmax(1)).sum()),
            "max_abs_diff": round(float(np.abs(a - b).max()), 6)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("int8", help="an onnx-int8 artifact (its fp32 .onnx sibling is the reference)")
    p.add_argument("--kernels", default=",".join(KERNELS), help=f"comma list of {', '.join(KERNELS)}")
    p.add_argument("--out", default=None, help="write the JSON result here")
    args = p.parse_args(argv)
    from edge_infer.int8_rule import DEFAULT_RULE
    from edge_infer.machine import load_average, machine_info

    wanted = [k.strip() for k in args.kernels.split(",") if k.strip()]
    if unknown := sorted(set(wanted) - set(KERNELS)):
        p.error(f"unknown kernels {unknown}; choose from {', '.join(KERNELS)}")
    model = Path(args.int8)
    fp32 = fp32_beside(model)
    names, x, work, reference = held_out_setup(fp32, "int8-kernels-")
    logits: dict[str, np.ndarray] = {}
    rows: dict[str, dict[str, object]] = {}
    for key in wanted:
        how, run = KERNELS[key]
        out = run(model, x, work / "x.npy", work)
        if out is None:
            rows[key] = {"how": how, "skipped": "not available on this machine"}
            continue
        logits[key] = out
        verdict = DEFAULT_RULE.judge(reference, out, names)
        diff = round(float(np.abs(out - reference).mean()), 4)
        rows[key] = {"how": how, **verdict.to_dict(), "mean_abs_logit_diff": diff}
        print(f"{key:11s} {'pass' if verdict.passed else 'FAIL'}  confident {verdict.confident_agreement:.1%} of "
              f"{verdict.confident_images}, top-5 {verdict.top5_coverage:.1%} of {verdict.images}")  # fmt: skip
    keys = list(logits)
    pairs = {f"{a} vs {b}": compare(logits[a], logits[b]) for i, a in enumerate(keys) for b in keys[i + 1 :]}
    for name, c in pairs.items():
        print(f"{name:26s} identical {c['identical_images']}/{len(names)}, same top-1 {c['same_top1']}, "
              f"max |diff| {c['max_abs_diff']}")  # fmt: skip
    info = machine_info()
    result = {"kind": KIND, "file": model.name, "images": len(names), "reference": fp32.name,
              "machine": {"cpu": info.cpu_model, "isa": info.isa_summary, "load_average": load_average()},
              "libraries": info.libraries, "kernels": rows, "pairs": pairs}  # fmt: skip
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
