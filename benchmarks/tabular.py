"""Tabular models: ONNX Runtime versus joblib (scikit-learn) on the seed's iris RandomForest, 1 row and 10,000 rows.

    python benchmarks/tabular.py --out benchmarks/results/tabular.json            # exports iris to a temp folder
    python benchmarks/tabular.py --artifacts out/iris --threads 1 --runs 100

Both artifacts are timed by ``edge-infer bench`` itself (``edge_infer.bench.benchmark``), one interleaved run per
batch size, on the same synthetic feature rows (uniform within each feature's range rule):

* model only: ``Predictor.run`` on validated rows (``InferenceSession.run`` versus ``estimator.predict_proba``);
* end to end: each row validated against the manifest, the model, top-1.

The targets take turns (the first one rotating every round) so drifts on a busy machine hit both alike: compare
``ratio_to_fastest``, not the absolute milliseconds, when the load average is high. ONNX Runtime runs with
``--threads`` intra-op threads (default 1, as scikit-learn's RandomForest with ``n_jobs=None`` uses one core).
Writes one edge-infer bench JSON (kind ``tabular``) holding both batch sizes; ``edge-infer compare`` reads it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchConfig, BenchReport, benchmark  # noqa: E402
from edge_infer.table import render  # noqa: E402

KIND = "tabular"


def export_iris(out: Path) -> list[str]:
    from exporters.api import export

    outcomes = export("iris", formats="onnx,joblib", out=out)
    bad = [o.to_dict() for o in outcomes if o.status != "verified"]
    if bad:
        raise SystemExit(f"tabular bench: export failed: {bad}")
    return [str(o.artifact.path) for o in outcomes if o.artifact is not None]


def measure(artifacts: list[str], batches: list[int], runs: dict[int, int], threads: int) -> BenchReport:
    """One interleaved ``benchmark`` per batch size, merged into one report of kind ``tabular``."""
    reports = []
    for batch in batches:
        config = BenchConfig(runs=runs[batch], warmup=3, threads=(threads,), batch=batch, memory=False)
        print(f"tabular: batch {batch}, {runs[batch]} runs per target", file=sys.stderr)
        reports.append(benchmark(artifacts, config, trust=True))
    first = reports[0]
    return BenchReport.now(
        kind=KIND, config={"threads": threads, "batches": batches, "runs": runs, "per_batch": [r.config for r in reports]},
        source=first.source, results=[r for rep in reports for r in rep.results],
        errors=[e for rep in reports for e in rep.errors],
        load_average=(first.load_average.get("before"), reports[-1].load_average.get("after")),
        extra={"model": "iris RandomForestClassifier(n_estimators=100, random_state=42)"},
    )  # fmt: skip


def table(report: BenchReport) -> str:
    rows = []
    for r in sorted(report.results, key=lambda r: (r.batch, r.format)):
        e2e = r.e2e_latency
        rows.append([str(r.batch), r.format, f"{r.latency.p50:.3f}", f"{r.latency.p90:.3f}",
                     f"{r.latency.p50 * 1e3 / r.batch:.2f}", f"{e2e.p50:.3f}" if e2e else "-",
                     f"{r.ratio_to_fastest or 0:.2f}x", str(len(r.samples_ms))])  # fmt: skip
    head = ["rows", "format", "model p50 ms", "p90 ms", "µs/row", "e2e p50 ms", "× fastest", "n"]
    return render(head, rows, align="llrrrrrr")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", default=None, help="folder with iris.onnx and iris.joblib (default: export now)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    ap.add_argument("--runs", type=int, default=200, help="model calls per target for 1 row (default 200)")
    ap.add_argument("--batch", type=int, default=10_000, help="rows in the large batch (default 10000)")
    ap.add_argument("--out", default=None, help="save the JSON result here")
    args = ap.parse_args(argv)
    runs = {1: args.runs, args.batch: max(10, args.runs // 10)}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = ([str(Path(args.artifacts) / f"iris.{f}") for f in ("onnx", "joblib")] if args.artifacts
                     else export_iris(Path(tmp)))  # fmt: skip
        report = measure(artifacts, [1, args.batch], runs, args.threads)
    print(table(report))
    for e in report.errors:
        print(f"not measured: {e.label}: {e.error}", file=sys.stderr)
    la = report.load_average
    print(f"load average before/after: {la.get('before')} / {la.get('after')} (a high load makes absolute times noisy)")
    if args.out:
        print(f"saved {report.save(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
