"""Is ``backend="auto"`` as fast as the fastest verified configuration? The goal of issues 15 and 16, measured.

    python benchmarks/auto_choice.py                          # exports the default model's .onnx, int8 .onnx, .pte, .tflite
    python benchmarks/auto_choice.py --artifacts /tmp/auto/lite0 --threads 1,2 --repeat 2

Per repeat and thread count: auto makes its choice afresh (``edge_infer.bench.pick.pick`` with ``refresh``, in a
cache folder of its own), then ONE interleaved run times every artifact on every installed engine able to run it
(what ``edge-infer bench --backends all`` measures) together with auto's choice, as its own target. Reported: the
paired p50 ratio of auto's target to the fastest verified configuration in that run (goal <= 1.05), and to ONNX
Runtime fp32 (never above 1 by more than the noise).

Writes ``benchmarks/results/DEVICE/auto_choice.json`` (every choice, every run's bench report, load averages) and
``auto_choice.md`` (the table quoted in docs/auto.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchConfig, BenchReport, measure  # noqa: E402
from edge_infer.bench.config import parse_threads  # noqa: E402
from edge_infer.bench.engines import engine_targets  # noqa: E402
from edge_infer.bench.pick import pick  # noqa: E402
from edge_infer.bench.result import BenchResult, paired_ratio  # noqa: E402
from edge_infer.bench.target import make_target  # noqa: E402
from edge_infer.choice import Choice, trust_problem  # noqa: E402
from edge_infer.artifact import Artifact  # noqa: E402
from edge_infer.machine import device_slug, load_average, machine_info  # noqa: E402
from edge_infer.manifest import manifest_path_for  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL = "efficientnet_lite0"
FORMATS = "onnx,onnx-int8,executorch,tflite"
FP32 = {"onnx", "executorch", "tflite"}  # must verify; an int8 file that fails the rule is timed, never chosen
GOAL = 1.05
AUTO_LABEL = "auto"


def export_default(out: Path, formats: str) -> Path:
    """The default model's artifacts, exported (and verified) with the project's exporters. An fp32 file that does not
    verify stops the run; an int8 one is kept (auto must not choose it, and the run shows that it does not)."""
    from exporters.api import export

    outcomes = export(MODEL, formats=formats, out=out)
    bad = [o.format for o in outcomes if o.status != "verified" and o.format in FP32]
    if bad:
        raise SystemExit(f"auto_choice: {', '.join(bad)} did not verify; see the export output")
    return out


def artifacts_in(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.iterdir()) if p.is_file() and manifest_path_for(p).is_file()]


def one_run(folder: Path, threads: int, runs: int, say: Any) -> dict[str, Any]:
    """auto's fresh choice, then every configuration and auto's own target in one interleaved run."""
    choice = pick(folder, threads, refresh=True, progress=lambda m: say(f"choice: {m}"))
    say(choice.summary())
    targets, failed = engine_targets(artifacts_in(folder), ["all"])
    auto = replace(make_target(str(choice.path), backend=choice.backend), label=AUTO_LABEL)
    config = BenchConfig(runs=runs, warmup=10, threads=(threads,), memory=False, e2e=False)
    report = measure([*targets, auto], config, source="samples", progress=say, kind="auto-choice",
                     extra={"choice": choice.to_dict()})  # fmt: skip
    return {"threads": threads, "choice": choice.to_dict(), "summary": summarize(report, choice, config.round_size),
            "failures": failed, "report": report.to_dict()}  # fmt: skip


def _verified(r: BenchResult) -> bool:
    return trust_problem(Artifact.read(r.artifact, check_sha256=False).manifest, r.backend) is None


def summarize(report: BenchReport, choice: Choice, round_size: int) -> dict[str, Any]:
    """Every configuration's paired p50 ratio to ONNX Runtime fp32 (the decision's own measure); the fastest verified
    one by it; then auto's chosen configuration against it (was the choice right?) and auto's own target against it
    (what a user of auto got, noise included: auto's target and its configuration's row are the same thing, timed
    twice)."""
    rows = {r.label: r for r in report.results}
    auto = rows[AUTO_LABEL]
    configs = [r for r in report.results if r.label != AUTO_LABEL and _verified(r)]
    ort = next(r for r in configs if r.format == "onnx" and r.backend == "onnxruntime")
    to_ort = {r.label: paired_ratio(r.samples_ms, ort.samples_ms, round_size) for r in report.results}
    fastest = min(configs, key=lambda r: to_ort[r.label])
    chosen = rows[f"{Path(choice.path).name} ({choice.backend})"]
    to_fastest = paired_ratio(auto.samples_ms, fastest.samples_ms, round_size)
    return {
        "auto": chosen.label,
        "auto_p50_ms": round(auto.latency.p50, 3),
        "fastest_verified": fastest.label,
        "fastest_p50_ms": round(fastest.latency.p50, 3),
        "chosen_to_fastest": round(to_ort[chosen.label] / to_ort[fastest.label], 3),
        "auto_to_fastest": round(to_fastest, 3),
        "auto_to_onnxruntime_fp32": round(to_ort[AUTO_LABEL], 3),
        "auto_to_same_configuration": round(paired_ratio(auto.samples_ms, chosen.samples_ms, round_size), 3),
        "goal_met": to_fastest <= GOAL,
        "p50_ms": {r.label: round(r.latency.p50, 3) for r in report.results},
        "ratio_to_onnxruntime_fp32": {k: round(v, 3) for k, v in to_ort.items()},
        "load_average": report.load_average,
    }


def table_md(entries: list[dict[str, Any]]) -> str:
    lines = ["| repeat | threads | auto chose | fastest verified (same run) | chosen / fastest | auto / fastest | "
             "auto / ORT fp32 | auto / same configuration (noise) | auto p50 ms | load average before, after |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for e in entries:
        s = e["summary"]
        la = s["load_average"]
        loads = ", ".join(f"{v[0]:.1f}" for v in (la.get("before"), la.get("after")) if v) if la else "?"
        lines.append(f"| {e['repeat']} | {e['threads']} | {s['auto']} | {s['fastest_verified']} | "
                     f"{s['chosen_to_fastest']:.3f} | {s['auto_to_fastest']:.3f} | {s['auto_to_onnxruntime_fp32']:.3f} | "
                     f"{s['auto_to_same_configuration']:.3f} | {s['auto_p50_ms']:.2f} | {loads} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def resummarize(path: Path, out: Path) -> int:
    """Recompute every run's summary from the bench reports and choices recorded in ``path``."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for e in doc["runs"]:
        report = BenchReport.from_dict(e["report"])
        e["summary"] = summarize(report, Choice.from_dict(e["choice"]), int(report.config.get("round_size", 5)))
    return write(doc, out)


def write(doc: dict[str, Any], out: Path) -> int:
    entries = doc["runs"]
    (out / "auto_choice.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (out / "auto_choice.md").write_text(table_md(entries), encoding="utf-8")
    print(table_md(entries))
    return 0 if all(e["summary"]["goal_met"] for e in entries) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--artifacts", type=Path, default=None,
                    help="folder with the default model's artifacts (default: export --formats to /tmp/auto)")
    ap.add_argument("--formats", default=FORMATS, help=f"formats to export when no --artifacts (default {FORMATS})")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--runs", type=int, default=100, help="timed runs per configuration per run (default 100)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/DEVICE)")
    ap.add_argument("--from-json", type=Path, default=None, metavar="auto_choice.json",
                    help="summarize the runs recorded in this file again (nothing is measured)")
    args = ap.parse_args(argv)
    out = args.out or HERE / "results" / device_slug()
    out.mkdir(parents=True, exist_ok=True)
    if args.from_json is not None:
        return resummarize(args.from_json, out)
    folder = args.artifacts or export_default(Path("/tmp/auto/lite0"), args.formats)

    def say(msg: str) -> None:
        print(f"auto_choice: {msg}", file=sys.stderr, flush=True)

    os.environ["EDGE_INFER_CACHE_DIR"] = tempfile.mkdtemp(prefix="auto-choice-cache-")  # never a user's choices
    entries = []
    for repeat in range(1, args.repeat + 1):
        for threads in parse_threads(args.threads):
            entry = {"repeat": repeat, **one_run(folder, threads, args.runs, say)}
            entries.append(entry)
            say(json.dumps({k: v for k, v in entry["summary"].items() if k not in ("p50_ms",)}))
    m = machine_info()
    doc = {
        "kind": "auto-choice", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "goal": f"auto's p50 / the fastest verified configuration's p50 <= {GOAL} (paired, same run)",
        "machine": {"cpu_model": m.cpu_model, "isa": m.isa_summary, "cores_usable": m.cores_usable,
                    "libraries": m.libraries},
        "load_average_end": load_average(), "runs": entries,
    }  # fmt: skip
    return write(doc, out)


if __name__ == "__main__":
    raise SystemExit(main())
