"""TorchScript int8 vs fp32: speed as an interleaved ratio (one process, alternating runs, so machine load hits both
alike) and top-1 agreement on held-out photos and crops that calibration never saw.

    python benchmarks/torchscript_int8.py [--model efficientnet_lite0] [--out out/ts-bench] [--rounds 30]
        [--threads 1] [--target laptop-x86] [--no-bias-correction] [--json result.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def interleaved(runs: dict[str, Any], x: np.ndarray, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per call of each predictor's ``run``, alternating A, B, A, B, ... after a warm-up."""
    for p in runs.values():
        for _ in range(3):
            p.run(x)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, p in runs.items():
            t0 = time.perf_counter()
            p.run(x)
            samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def agreement(fp32: Any, int8: Any, images: dict[str, np.ndarray]) -> dict[str, Any]:
    a = np.concatenate([fp32.run(fp32.preprocessor(im)) for im in images.values()])
    b = np.concatenate([int8.run(int8.preprocessor(im)) for im in images.values()])
    agree = a.argmax(1) == b.argmax(1)
    return {"images": len(agree), "top1_agreement": float(np.mean(agree)),
            "mean_abs_logit_diff": float(np.abs(a - b).mean()),
            "disagreements": [n for n, ok in zip(images, agree) if not ok]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--out", default="out/ts-bench")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target", default=None, help="target profile (its torch quantized engine is used)")
    ap.add_argument("--crops", type=int, default=6, help="crops per held-out photo for the agreement check")
    ap.add_argument("--no-bias-correction", action="store_true", help="export without int8 bias correction")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # torch's TorchScript / torch.ao deprecation notices, once per call site

    import edge_infer as ei
    from exporters.api import export
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import crops, load_photos
    from targets.profiles import get_target

    target = get_target(args.target) if args.target else None
    exported = export(args.model, formats="torchscript,torchscript-int8", out=args.out, target=target,
                      int8_bias_correction=not args.no_bias_correction)
    outcomes = {o.format: o for o in exported}
    for o in outcomes.values():
        print(f"{o.format}: {o.status} {o.error or ''}", file=sys.stderr)
        if o.artifact is None:
            return 1
    held_out = {n: im for n, im in load_photos().items() if n not in CALIBRATION_PHOTOS}
    images = dict(held_out)
    for k, (name, rgb) in enumerate(held_out.items()):
        images.update({f"{name}#crop{j}": c for j, c in enumerate(crops(rgb, args.crops, seed=5000 + k))})
    fp32 = ei.load(outcomes["torchscript"].artifact.path, threads=args.threads)  # type: ignore[union-attr]
    int8 = ei.load(outcomes["torchscript-int8"].artifact.path, threads=args.threads)  # type: ignore[union-attr]
    x = fp32.preprocess(next(iter(held_out.values())))
    samples = interleaved({"fp32": fp32, "int8": int8}, x, args.rounds)
    med = {k: statistics.median(v) for k, v in samples.items()}
    ratios = [a / b for a, b in zip(samples["fp32"], samples["int8"])]
    result = {
        "model": args.model,
        "threads": args.threads,
        "engine": int8.manifest.export["quantization"]["engine"],
        "bias_correction": not args.no_bias_correction,
        "machine": platform.machine(),
        "median_ms": med,
        "speedup_median_of_pairwise_ratios": statistics.median(ratios),
        "agreement": agreement(fp32, int8, images),
        "samples_ms": samples,
    }
    a = result["agreement"]
    print(f"{args.model} ({result['engine']}, {args.threads} thread(s)): fp32 {med['fp32']:.1f} ms, int8 "
          f"{med['int8']:.1f} ms, int8 is {result['speedup_median_of_pairwise_ratios']:.2f}x faster "
          f"(median of {args.rounds} interleaved pairs); top-1 agreement {a['top1_agreement']:.1%} of "
          f"{a['images']} held-out photos+crops, mean |logit diff| {a['mean_abs_logit_diff']:.3f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
