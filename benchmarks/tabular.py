"""Tabular models: ONNX Runtime versus joblib (scikit-learn) on the seed's iris RandomForest, 1 row and 10,000 rows.

    python benchmarks/tabular.py --out benchmarks/results/tabular.json            # exports iris to a temp folder
    python benchmarks/tabular.py --artifacts out/iris --threads 1 --rounds 20

Two levels are timed for each artifact and batch size:

* ``model``: the model call alone on validated rows (``Predictor.run``: ``InferenceSession.run`` versus
  ``estimator.predict_proba``);
* ``api``: ``predictor.predict(rows)`` end to end (row validation against the manifest, the model, result
  objects). The joblib backend calls ``predict`` and ``predict_proba`` (exact for every scikit-learn classifier,
  including those whose ``predict`` is not the argmax of ``predict_proba``), the ONNX graph returns both at once.

The two artifacts take turns (the first one alternates every round) so drifts on a busy machine hit both alike:
compare the ratio, not the absolute milliseconds, when the load average is high. ONNX Runtime runs with
``--threads`` intra-op threads (default 1, as scikit-learn's RandomForest with ``n_jobs=None`` uses one core).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEED_ROW = [5.1, 3.5, 1.4, 0.2]
SCHEMA = "edge-infer/tabular-bench/1"


def make_rows(n: int, seed: int = 0) -> np.ndarray:
    """``n`` iris-like rows: real iris rows drawn with replacement, jittered by 0.05 cm, kept non-negative."""
    from sklearn.datasets import load_iris

    X = load_iris().data
    rng = np.random.default_rng(seed)
    rows = X[rng.integers(0, len(X), n)] + rng.normal(0.0, 0.05, (n, X.shape[1]))
    return np.clip(rows, 0.0, None)


def export_iris(out: Path) -> dict[str, Path]:
    from exporters.api import export

    outcomes = export("iris", formats="onnx,joblib", out=out)
    bad = [o.to_dict() for o in outcomes if o.status != "verified"]
    if bad:
        raise SystemExit(f"tabular bench: export failed: {bad}")
    return {o.format: o.artifact.path for o in outcomes if o.artifact is not None}


def _stats(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples)
    return {"n": int(a.size), "p50": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "mean": float(a.mean()), "min": float(a.min())}  # fmt: skip


def measure(predictors: dict[str, Any], scenarios: dict[str, tuple[Any, int]], rounds: int, warmup: int) -> dict:
    """Interleaved timing: per round, every scenario, each artifact in turn (first one alternating)."""
    calls: dict[tuple[str, str, str], Callable[[], Any]] = {}
    for fmt, p in predictors.items():
        for scen, (rows, _) in scenarios.items():
            x, _single = p.validate(rows)
            calls[(fmt, scen, "model")] = lambda p=p, x=x: p.run(x)
            calls[(fmt, scen, "api")] = lambda p=p, rows=rows: p.predict(rows)
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[tuple[str, str, str], list[float]] = {k: [] for k in calls}
    names = list(predictors)
    gc.disable()
    try:
        for r in range(rounds):
            order = names if r % 2 == 0 else names[::-1]
            for scen, (_, per_round) in scenarios.items():
                for level in ("model", "api"):
                    for fmt in order:
                        fn, out = calls[(fmt, scen, level)], samples[(fmt, scen, level)]
                        for _ in range(per_round):
                            t0 = time.perf_counter()
                            fn()
                            out.append((time.perf_counter() - t0) * 1e3)
            gc.collect()
    finally:
        gc.enable()
    return samples


def report(samples: dict, scenarios: dict[str, tuple[Any, int]]) -> tuple[list[dict[str, Any]], str]:
    from edge_infer.table import render

    rows, table = [], []
    for (fmt, scen, level), s in samples.items():
        st = _stats(s)
        n_rows = 1 if scen == "1 row" else len(scenarios[scen][0])
        onnx_p50 = _stats(samples[("onnx", scen, level)])["p50"]
        entry = {"format": fmt, "rows": n_rows, "level": level, **{k: round(v, 4) for k, v in st.items()},
                 "us_per_row_p50": round(st["p50"] * 1e3 / n_rows, 3),
                 "vs_onnx_p50": round(st["p50"] / onnx_p50, 2)}  # fmt: skip
        rows.append(entry)
        table.append([scen, level, fmt, f"{st['p50']:.3f}", f"{st['p90']:.3f}", f"{entry['us_per_row_p50']:.2f}",
                      f"{entry['vs_onnx_p50']:.1f}x", str(st["n"])])  # fmt: skip
    text = render(["rows", "level", "format", "p50 ms", "p90 ms", "µs/row", "vs onnx", "n"], table, align="lllrrrrr")
    return rows, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", default=None, help="folder with iris.onnx and iris.joblib (default: export now)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    ap.add_argument("--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    ap.add_argument("--batch", type=int, default=10_000, help="rows in the large batch (default 10000)")
    ap.add_argument("--out", default=None, help="save the JSON result here")
    args = ap.parse_args(argv)

    import edge_infer as ei
    from edge_infer.machine import load_average, machine_info

    with tempfile.TemporaryDirectory() as tmp:
        paths = ({f: Path(args.artifacts) / f"iris.{f}" for f in ("onnx", "joblib")} if args.artifacts
                 else export_iris(Path(tmp)))  # fmt: skip
        scenarios = {"1 row": (SEED_ROW, 20), f"{args.batch} rows": (make_rows(args.batch), 2)}
        load_before = load_average()
        with ei.load(paths["onnx"], threads=args.threads) as onnx_p, ei.load(paths["joblib"], trust=True) as job_p:
            samples = measure({"onnx": onnx_p, "joblib": job_p}, scenarios, args.rounds, warmup=3)
        load_after = load_average()
    rows, table = report(samples, scenarios)
    print(table)
    print(f"load average before/after: {load_before} / {load_after} (2 cores; a high load makes absolute times noisy)")
    if args.out:
        doc = {"schema": SCHEMA, "model": "iris RandomForestClassifier(n_estimators=100, random_state=42)",
               "onnx_threads": args.threads, "rounds": args.rounds, "load_average": [load_before, load_after],
               "machine": machine_info().to_dict(), "results": rows,
               "raw_ms": {"/".join(k): [round(v, 5) for v in s] for k, s in samples.items()}}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
