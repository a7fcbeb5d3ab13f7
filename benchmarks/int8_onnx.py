"""fp32 ONNX vs int8 ONNX (and .ort) of the default model: interleaved latency ratios and top-1 agreement, one run.

    .venv/bin/python benchmarks/int8_onnx.py --out benchmarks/results/int8_onnx.json

Exports ``onnx``, ``onnx-int8`` and ``ort`` into ``--artifacts`` unless they are there already, then, for each
thread count, runs the artifacts in alternating order (fp32, int8, int8 without ``session.x64quantprecision``, ort;
reversed every other round) so machine load hits them alike, and reports the median of per-round ratios. Agreement
is int8 vs fp32 top-1 on the held-out photos and crops that calibration never saw. Raw samples, the CPU, its ISA
flags and the load average are recorded. Until ``edge-infer bench`` covers int8, this is the reproducible measure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.artifact import Artifact  # noqa: E402
from edge_infer.backends.onnxrt import make_session  # noqa: E402
from edge_infer.preprocess import Preprocessor  # noqa: E402

STEM = "efficientnet_lite0"


def ensure_artifacts(folder: Path) -> dict[str, Path]:
    paths = {"fp32": folder / f"{STEM}.onnx", "int8": folder / f"{STEM}.int8.onnx", "ort": folder / f"{STEM}.ort"}
    missing = [f for f, p in zip(("onnx", "onnx-int8", "ort"), paths.values()) if not p.exists()]
    if missing:
        from exporters.api import export

        for o in export(STEM, formats=missing, out=folder):
            print(f"exported {o.format}: {o.status} {o.error or ''}", file=sys.stderr)
    return paths


def cpu_info() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["model"] = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name"))
        flags = next(ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags"))
        info["isa"] = sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")) or "vnni" in f)
        info["vnni"] = any("vnni" in f for f in flags)
    except (OSError, StopIteration):
        pass
    return info


def holdout(int8_manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    from exporters.samples import verification_images

    used = set(int8_manifest["export"]["quantization"]["calibration"].get("photos", []))
    return {n: im for n, im in verification_images().items() if n.split("#", 1)[0] not in used}


def time_round_robin(sessions: dict[str, Any], x: np.ndarray, runs: int, warmup: int) -> dict[str, list[float]]:
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    for k, s in sessions.items():
        for _ in range(warmup):
            s.run(None, feeds[k])
    samples: dict[str, list[float]] = {k: [] for k in sessions}
    keys = list(sessions)
    for i in range(runs):
        for k in keys if i % 2 == 0 else keys[::-1]:
            t0 = time.perf_counter()
            sessions[k].run(None, feeds[k])
            samples[k].append((time.perf_counter() - t0) * 1e3)
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", default="out/int8_bench", help="folder with (or for) the exported artifacts")
    p.add_argument("--threads", default="1,2", help="comma list of intra-op thread counts")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--out", default=None, help="write the JSON result here")
    args = p.parse_args(argv)
    paths = ensure_artifacts(Path(args.artifacts))
    manifest = Artifact.read(paths["int8"]).manifest
    config = manifest.export.get("onnxruntime_session_config") or {}
    images = holdout(manifest.to_dict())
    pre = Preprocessor(manifest.preprocess)  # type: ignore[arg-type]
    batch = np.concatenate([pre(im) for im in images.values()])
    result: dict[str, Any] = {"benchmark": "int8_onnx", "cpu": cpu_info(), "loadavg_start": os.getloadavg(),
                              "session_config_int8": config, "runs": args.runs, "warmup": args.warmup}  # fmt: skip
    ref = make_session(str(paths["fp32"]), 1)
    top = {}
    for name, cfg in (("fp32", {}), ("int8", config), ("int8_no_x64quantprecision", {})):
        sess = make_session(str(paths["int8" if name != "fp32" else "fp32"]), 1, config=cfg) if name != "fp32" else ref
        outs = [sess.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))]
        top[name] = np.concatenate(outs).argmax(1)
    result["agreement"] = {k: float((v == top["fp32"]).mean()) for k, v in top.items() if k != "fp32"}
    result["agreement_images"] = len(batch)
    result["timings"] = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        sessions = {"fp32": make_session(str(paths["fp32"]), threads),
                    "int8": make_session(str(paths["int8"]), threads, config=config),
                    "int8_no_x64quantprecision": make_session(str(paths["int8"]), threads),
                    "ort": make_session(str(paths["ort"]), threads)}  # fmt: skip
        samples = time_round_robin(sessions, batch[:1], args.runs, args.warmup)
        fp = np.asarray(samples["fp32"])
        result["timings"][str(threads)] = {
            k: {"median_ms": float(np.median(v)), "speedup_vs_fp32": float(np.median(fp / np.asarray(v))),
                "samples_ms": v}
            for k, v in samples.items()
        }
    result["loadavg_end"] = os.getloadavg()
    summary = {t: {k: round(v["speedup_vs_fp32"], 2) for k, v in d.items()} for t, d in result["timings"].items()}
    print(json.dumps({"agreement": result["agreement"], "images": len(batch), "speedup_by_threads": summary,
                      "median_ms": {t: {k: round(v["median_ms"], 2) for k, v in d.items()}
                                    for t, d in result["timings"].items()},
                      "loadavg": [result["loadavg_start"], result["loadavg_end"]]}, indent=1))  # fmt: skip
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
