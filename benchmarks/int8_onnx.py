"""fp32 ONNX vs int8 ONNX (and .ort) of the default model: interleaved latency ratios and top-1 agreement, one run.

    .venv/bin/python benchmarks/int8_onnx.py --out benchmarks/results/int8_onnx.json

Exports ``onnx``, ``onnx-int8`` and ``ort`` into ``--artifacts`` unless they are there already, then times, with
``edge-infer bench``'s own interleaved run at each thread count, four raw ONNX Runtime sessions (no option of ours
beyond the thread count and what is named): fp32, int8 with the session config its manifest records
(``session.x64quantprecision``), int8 without it, and the ``.ort``. ``ratio_to_fastest`` is the paired per-round
ratio, so it holds on a busy machine. Agreement is each int8 session's top-1 against fp32 on the held-out photos
and crops that calibration never saw. Writes edge-infer bench JSON (kind ``int8-onnx``; agreement in ``extra``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.artifact import Artifact  # noqa: E402
from edge_infer.bench import BenchConfig, BenchReport, measure  # noqa: E402
from edge_infer.bench.raw import SessionClassifier, session_target  # noqa: E402

STEM = "efficientnet_lite0"
KIND = "int8-onnx"


def ensure_artifacts(folder: Path) -> dict[str, Path]:
    paths = {"fp32": folder / f"{STEM}.onnx", "int8": folder / f"{STEM}.int8.onnx", "ort": folder / f"{STEM}.ort"}
    missing = [f for f, p in zip(("onnx", "onnx-int8", "ort"), paths.values()) if not p.exists()]
    if missing:
        from exporters.api import export

        for o in export(STEM, formats=missing, out=folder):
            print(f"exported {o.format}: {o.status} {o.error or ''}", file=sys.stderr)
    return paths


def holdout(int8: Artifact) -> dict[str, np.ndarray]:
    """Verification photos and crops whose photo calibration did not use."""
    from exporters.samples import verification_images

    calibration = int8.manifest.provenance.details.get("quantization", {}).get("calibration", {})
    used = set(calibration.get("photos", []))
    return {n: im for n, im in verification_images().items() if n.split("#", 1)[0] not in used}


def variants(paths: dict[str, Path], config: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Label -> (artifact, model file, session config) of every session timed."""
    return {
        "fp32": {"artifact": paths["fp32"], "model": paths["fp32"], "session_config": {}},
        "int8": {"artifact": paths["fp32"], "model": paths["int8"], "session_config": config},
        "int8 without x64quantprecision": {"artifact": paths["fp32"], "model": paths["int8"], "session_config": {}},
        "ort": {"artifact": paths["fp32"], "model": paths["ort"], "session_config": {}},
    }


def agreement(runs: dict[str, dict[str, Any]], images: dict[str, np.ndarray]) -> dict[str, Any]:
    top: dict[str, np.ndarray] = {}
    for label, v in runs.items():
        if label == "ort":
            continue
        p = SessionClassifier(Artifact.read(v["artifact"]), threads=1, model=v["model"],
                              session_config=v["session_config"])  # fmt: skip
        with p:
            top[label] = np.array([int(p.run(p.preprocess(im)).argmax()) for im in images.values()])
    return {label: round(float((t == top["fp32"]).mean()), 4) for label, t in top.items() if label != "fp32"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", default="out/int8_bench", help="folder with (or for) the exported artifacts")
    p.add_argument("--threads", default="1,2", help="comma list of intra-op thread counts")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--out", default=None, help="write the JSON result here")
    args = p.parse_args(argv)
    paths = ensure_artifacts(Path(args.artifacts))
    int8 = Artifact.read(paths["int8"])
    config = dict(int8.manifest.runtime.onnxruntime_session_config)
    runs = variants(paths, config)
    images = holdout(int8)
    agree = agreement(runs, images)
    targets = [session_target(v["artifact"], label=label, model=v["model"], session_config=v["session_config"])
               for label, v in runs.items()]  # fmt: skip
    bench = BenchConfig(runs=args.runs, warmup=args.warmup, threads=tuple(int(t) for t in args.threads.split(",")),
                        e2e=False, memory=False)  # fmt: skip
    report: BenchReport = measure(targets, bench, progress=lambda m: print(f"   {m}", file=sys.stderr))
    report = replace(report, kind=KIND, extra={  # the CPU's ISA (VNNI or not) is in report.machine["isa"]
        "agreement_vs_fp32": agree, "agreement_images": len(images), "session_config_int8": config,
    })  # fmt: skip
    fp32 = {r.threads: r for r in report.results if r.label == "fp32"}
    for r in report.results:
        base = fp32.get(r.threads)
        speed = base.latency.p50 / r.latency.p50 if base else float("nan")
        print(f"{r.threads} thread(s)  {r.label:32s} p50 {r.latency.p50:7.2f} ms  x{r.ratio_to_fastest:.2f} of fastest"
              f"  {speed:.2f}x vs fp32  agreement {agree.get(r.label, '-')}")  # fmt: skip
    print(f"top-1 agreement with fp32 on {len(images)} held-out images: {agree}")
    if args.out:
        report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
