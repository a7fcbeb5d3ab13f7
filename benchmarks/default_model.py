"""Reproduce the README's performance table: the default model in every format that exports, plus PyTorch eager.

    python benchmarks/default_model.py                       # export + bench + compute floor, ~5 min on 2 cores
    python benchmarks/default_model.py --artifacts DIR --skip-export   # on a device without torch (Raspberry Pi)

1. Exports EfficientNet-Lite0 to every registered image format (``--skip-export``: use the artifacts already in
   ``--artifacts``; every model file there with a manifest is benchmarked).
2. Benchmarks all of them and the eager baseline (when torch is installed) in ONE interleaved run per thread count
   (1 and all usable cores), ``--repeat`` times, and reports how much the ratios moved between repeats.
3. Measures the compute floor (model MACs over measured fp32 matmul throughput; needs onnx).

Writes ``benchmarks/results/DEVICE/``: ``default_model.json`` (edge-infer bench schema; one per repeat as
``default_model.runN.json``), ``default_model.md`` (the table), ``default_model.png`` (latency distributions),
``compute_floor.json`` (the same JSON, kind ``compute-floor``) and ``stability.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchConfig, BenchReport, benchmark  # noqa: E402
from edge_infer.bench.plot import plot_latencies  # noqa: E402
from edge_infer.machine import device_slug  # noqa: E402
from edge_infer.manifest import manifest_path_for  # noqa: E402
from edge_infer.threads import default_threads  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL = "efficientnet_lite0"


def export_all(out: Path) -> list[dict[str, Any]]:
    from exporters.api import export
    from exporters.registry import exporter_names

    outcomes = export(MODEL, formats=exporter_names(), out=out)
    for o in outcomes:
        print(f"export {o.format}: {o.status}" + (f" ({o.error})" if o.error else ""), file=sys.stderr)
    return [o.to_dict() for o in outcomes]


def artifacts_in(folder: Path) -> list[str]:
    """Model files in ``folder`` that have a manifest beside them, fp32 ONNX first."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and manifest_path_for(p).is_file())
    return [str(p) for p in sorted(found, key=lambda p: (p.suffix != ".onnx" or ".int8" in p.name, p.name))]


def table_md(report: BenchReport) -> str:
    head = ("| format | artifact | threads | p50 ms | p90 ms | p99 ms | e2e p50 ms | cold ms | load ms | peak RSS MB "
            "| size MB | × fastest |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    rows = []
    for r in sorted(report.results, key=lambda r: (r.threads, r.latency.p50)):
        s, e = r.latency, r.e2e_latency
        mem = r.memory.get("peak_rss_mb")
        size = f"{r.size_bytes / 1e6:.1f}" if r.size_bytes else "-"
        status = r.extra.get("verification")
        fmt = r.format if status in (None, "verified", "not recorded") else f"{r.format} ({status} verification)"
        rows.append(
            f"| {fmt} | {Path(r.artifact).name if r.format != 'eager' else 'PyTorch eager'} | {r.threads} "
            f"| {s.p50:.1f} | {s.p90:.1f} | {s.p99:.1f} | {e.p50 if e else 0:.1f} | {r.cold_ms:.0f} | {r.load_ms:.0f} "
            f"| {mem if mem is not None else '-'} | {size} | {r.ratio_to_fastest:.2f} |"
        )
    return "\n".join([head, *rows])


def stability(reports: list[BenchReport]) -> dict[str, Any]:
    """Ratio to the fastest of each target in each repeat, and the largest relative change between repeats."""
    ratios: dict[str, list[float]] = {}
    for rep in reports:
        for r in rep.results:
            ratios.setdefault(f"{r.label} @{r.threads}t", []).append(round(r.ratio_to_fastest or 0, 4))
    spread = {k: round(max(v) / min(v) - 1, 4) for k, v in ratios.items() if len(v) > 1 and min(v) > 0}
    return {"ratios": ratios, "max_relative_change": spread, "worst": max(spread.values(), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", default=str(HERE / ".artifacts" / MODEL), help="where artifacts are (or go)")
    p.add_argument("--skip-export", action="store_true", help="benchmark the artifacts already in --artifacts")
    p.add_argument("--device", default=None, help="results folder name (default: from the CPU / board model)")
    p.add_argument("--runs", type=int, default=200, help="warm runs per target and thread count (default 200)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", default=None, help="thread counts (default: 1 and all usable cores)")
    p.add_argument("--repeat", type=int, default=2, help="whole interleaved runs, to show ratios hold (default 2)")
    p.add_argument("--source", default="synthetic", help="frames for end-to-end timing (default synthetic 640x480)")
    p.add_argument("--no-baseline", action="store_true", help="skip the PyTorch eager baseline")
    args = p.parse_args(argv)

    folder = Path(args.artifacts)
    exports = [] if args.skip_export else export_all(folder)
    artifacts = artifacts_in(folder) if folder.is_dir() else []
    if not artifacts:
        print(f"no artifacts in {folder}", file=sys.stderr)
        return 2
    threads = tuple(int(t) for t in args.threads.split(",")) if args.threads else tuple(sorted({1, default_threads()}))
    baseline = [] if args.no_baseline or importlib.util.find_spec("torch") is None else ["eager"]
    config = BenchConfig(runs=args.runs, warmup=args.warmup, threads=threads)
    out = HERE / "results" / (args.device or device_slug())
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for i in range(1, args.repeat + 1):
        print(f"== run {i}/{args.repeat}: {len(artifacts)} artifact(s) + {baseline or 'no baseline'}", file=sys.stderr)
        rep = benchmark(artifacts, config, source=args.source, baseline=baseline,
                        progress=lambda m: print(f"   {m}", file=sys.stderr))  # fmt: skip
        rep.save(out / f"default_model.run{i}.json")
        reports.append(rep)
    first = reports[0]
    first.save(out / "default_model.json")
    plot_latencies(first.results, out / "default_model.png", title=f"{MODEL} on {first.machine['cpu_model']}")
    (out / "default_model.md").write_text(table_md(first) + "\n", encoding="utf-8")
    stab = {**stability(reports), "exports": exports}
    (out / "stability.json").write_text(json.dumps(stab, indent=2) + "\n", encoding="utf-8")
    if importlib.util.find_spec("onnx") is not None:
        from compute_floor import compute_floor

        fp32 = next((a for a in artifacts if a.endswith(".onnx") and ".int8" not in a), None)
        if fp32:
            floor = compute_floor(fp32)
            floor.save(out / "compute_floor.json")
            print(f"compute floor: {floor.extra['gmacs']} GMACs; " + ", ".join(
                f"{f['threads']} thread(s) {f['floor_ms']} ms" for f in floor.extra["floors"]))  # fmt: skip
    print(table_md(first))
    print(f"ratio change between repeats: worst {stab['worst']:.1%} ({out / 'stability.json'})")
    for e in first.errors:
        print(f"not measured: {e.label}: {e.error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
