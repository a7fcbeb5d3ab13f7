"""Every engine edge-infer offers, side by side: ``edge-infer bench --backends all`` on the default model.

    python benchmarks/engines.py --artifacts out/lite0            # artifacts exported already (onnx, onnx-int8, ...)
    python benchmarks/engines.py --artifacts out/lite0 --repeat 2 --threads 1,2

Per repeat, ONE interleaved run per thread count of every artifact in ``--artifacts`` on every installed backend
able to run it (ONNX Runtime and OpenVINO for ``.onnx``), plus the PyTorch eager baseline when torch is installed,
with top-1 agreement against ONNX Runtime fp32 on the verification photos. Then OpenVINO's first (compiling) load
against its cached second load, in a fresh cache folder.

Writes ``benchmarks/results/DEVICE/``: ``engines.runN.json`` (edge-infer bench schema, kind ``latency``),
``engines.md`` (ratios to ONNX Runtime fp32 per repeat and thread count), ``engines.png`` (latency distributions of
the last repeat) and ``openvino_load.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.backends import load  # noqa: E402
from edge_infer.bench import BenchConfig, BenchReport, benchmark  # noqa: E402
from edge_infer.bench.config import parse_threads  # noqa: E402
from edge_infer.bench.plot import plot_latencies  # noqa: E402
from edge_infer.machine import device_slug  # noqa: E402
from edge_infer.manifest import manifest_path_for  # noqa: E402

HERE = Path(__file__).resolve().parent


def artifacts_in(folder: Path) -> list[str]:
    """Model files with a manifest beside them, fp32 ONNX first (the reference)."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and manifest_path_for(p).is_file())
    return [str(p) for p in sorted(found, key=lambda p: (p.suffix != ".onnx" or ".int8" in p.name, p.name))]


def ratios(report: BenchReport) -> dict[int, dict[str, float]]:
    """threads -> label -> p50 ratio to ONNX Runtime fp32 in the same run (paired per round)."""
    out: dict[int, dict[str, float]] = {}
    for threads in sorted({r.threads for r in report.results}):
        rows = [r for r in report.results if r.threads == threads]
        ref = next(r for r in rows if r.format == "onnx" and r.backend == "onnxruntime")
        out[threads] = {r.label: round((r.ratio_to_fastest or 1.0) / (ref.ratio_to_fastest or 1.0), 3) for r in rows}
    return out


def table_md(reports: list[BenchReport]) -> str:
    first = reports[0]
    threads = sorted({r.threads for r in first.results})
    heads = [f"{t} thr run {i + 1}" for t in threads for i in range(len(reports))]
    lines = ["| target | backend | p50 ms (1st run) | " + " | ".join(heads) + " | top-1 agreement |",
             "|---|---|---|" + "---|" * len(heads) + "---|"]  # fmt: skip
    per = [ratios(r) for r in reports]
    for r in sorted([r for r in first.results if r.threads == threads[0]], key=lambda r: r.latency.p50):
        a = r.extra.get("top1_agreement", {})
        agree = f"{a['value'] * 100:.0f}% of {a['photos']}" if "value" in a else "-"
        cells = [f"{p[t].get(r.label, float('nan')):.2f}" for t in threads for p in per]
        lines.append(f"| {r.label} | {r.backend} | {r.latency.p50:.2f} | " + " | ".join(cells) + f" | {agree} |")
    return "\n".join(lines) + "\n"


def openvino_load_times(onnx: str, threads: int = 1) -> dict[str, Any]:
    """OpenVINO: first load (reads and compiles the .onnx) vs second load (from the compiled-model cache)."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EDGE_INFER_CACHE_DIR"] = cache
        times, cached = [], []
        for _ in range(2):
            t0 = time.perf_counter()
            with load(onnx, backend="openvino", threads=threads) as p:
                times.append((time.perf_counter() - t0) * 1e3)
                cached.append(bool(getattr(p, "loaded_from_cache", False)))
        del os.environ["EDGE_INFER_CACHE_DIR"]
    return {"artifact": onnx, "threads": threads, "first_load_ms": round(times[0], 1),
            "cached_load_ms": round(times[1], 1), "loaded_from_cache": cached}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--artifacts", type=Path, required=True, help="folder of exported artifacts of one model")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/DEVICE)")
    args = ap.parse_args(argv)
    out = args.out or HERE / "results" / device_slug()
    out.mkdir(parents=True, exist_ok=True)
    artifacts = artifacts_in(args.artifacts)
    baseline = ["eager"] if importlib.util.find_spec("torch") else []
    config = BenchConfig(runs=args.runs, threads=parse_threads(args.threads), memory=False)
    reports = []
    for i in range(args.repeat):
        report = benchmark(artifacts, config, source="samples", baseline=baseline, backends=["all"],
                           progress=lambda m: print(f"engines: {m}", file=sys.stderr))  # fmt: skip
        report.save(out / f"engines.run{i + 1}.json")
        reports.append(report)
    plot_latencies(reports[-1].results, out / "engines.png", title="engines: " + reports[-1].machine.get("cpu_model", ""))
    (out / "engines.md").write_text(table_md(reports), encoding="utf-8")
    onnx = next((a for a in artifacts if a.endswith(".onnx") and ".int8" not in a), None)
    if onnx and importlib.util.find_spec("openvino"):
        (out / "openvino_load.json").write_text(json.dumps(openvino_load_times(onnx), indent=2) + "\n")
    print(table_md(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
