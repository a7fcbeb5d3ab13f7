"""TorchScript int8 vs fp32: speed as an interleaved ratio (``edge-infer bench``'s own run: one process, the two
artifacts taking turns, so machine load hits both alike) and top-1 agreement on held-out photos and crops that
calibration never saw.

    python benchmarks/torchscript_int8.py [--model efficientnet_lite0] [--out out/ts-bench] [--runs 60]
        [--threads 1] [--target laptop-x86] [--no-bias-correction] [--json result.json]

``--json`` writes edge-infer bench JSON (kind ``torchscript-int8``): both artifacts' samples, and in ``extra`` the
quantized engine, the agreement and the mean absolute logit difference.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KIND = "torchscript-int8"


def agreement(fp32: Any, int8: Any, images: dict[str, np.ndarray]) -> dict[str, Any]:
    a = np.concatenate([fp32.run(fp32.preprocess(im)) for im in images.values()])
    b = np.concatenate([int8.run(int8.preprocess(im)) for im in images.values()])
    agree = a.argmax(1) == b.argmax(1)
    return {"images": len(agree), "top1_agreement": float(np.mean(agree)),
            "mean_abs_logit_diff": float(np.abs(a - b).mean()),
            "disagreements": [n for n, ok in zip(images, agree) if not ok]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--out", default="out/ts-bench")
    ap.add_argument("--runs", type=int, default=60, help="timed model calls per artifact (default 60)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target", default=None, help="target profile (its torch quantized engine is used)")
    ap.add_argument("--crops", type=int, default=6, help="crops per held-out photo for the agreement check")
    ap.add_argument("--no-bias-correction", action="store_true", help="export without int8 bias correction")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # torch's TorchScript / torch.ao deprecation notices, once per call site

    import edge_infer as ei
    from edge_infer.bench import BenchConfig, benchmark
    from exporters.api import export
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import crops, load_photos
    exported = export(args.model, formats="torchscript,torchscript-int8", out=args.out, target=args.target,
                      int8_bias_correction=not args.no_bias_correction)  # fmt: skip
    paths = {}
    for o in exported:
        print(f"{o.format}: {o.status} {o.error or ''}", file=sys.stderr)
        if o.artifact is None:
            return 1
        paths[o.format] = str(o.artifact.path)
    report = benchmark([paths["torchscript"], paths["torchscript-int8"]],
                       BenchConfig(runs=args.runs, warmup=3, threads=(args.threads,), e2e=False, memory=False),
                       progress=lambda m: print(f"   {m}", file=sys.stderr))  # fmt: skip
    held_out = {n: im for n, im in load_photos().items() if n not in CALIBRATION_PHOTOS}
    images = dict(held_out)
    for k, (name, rgb) in enumerate(held_out.items()):
        images.update({f"{name}#crop{j}": c for j, c in enumerate(crops(rgb, args.crops, seed=5000 + k))})
    with ei.load(paths["torchscript"], threads=args.threads) as fp32, \
            ei.load(paths["torchscript-int8"], threads=args.threads) as int8:  # fmt: skip
        agree = agreement(fp32, int8, images)
        engine = int8.manifest.runtime.torch_qengine
    report = replace(report, kind=KIND, extra={"model": args.model, "engine": engine, "agreement": agree,
                                               "bias_correction": not args.no_bias_correction})  # fmt: skip
    by_format = {r.format: r for r in report.results}
    if len(by_format) < 2:
        for e in report.errors:
            print(f"not measured: {e.label}: {e.error}", file=sys.stderr)
        return 1
    f, q = by_format["torchscript"], by_format["torchscript-int8"]
    speedup = (f.ratio_to_fastest or 1.0) / (q.ratio_to_fastest or 1.0)
    print(f"{args.model} ({engine}, {args.threads} thread(s)): fp32 {f.latency.p50:.1f} ms, int8 "
          f"{q.latency.p50:.1f} ms, int8 is {speedup:.2f}x faster (paired per-round ratio, {args.runs} runs each); "
          f"top-1 agreement {agree['top1_agreement']:.1%} of {agree['images']} held-out photos+crops, "
          f"mean |logit diff| {agree['mean_abs_logit_diff']:.3f}")  # fmt: skip
    if args.json:
        report.save(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
