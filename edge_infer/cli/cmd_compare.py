"""``edge-infer compare BASE.json OTHER.json``: two saved bench runs side by side (another build, day or device)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from edge_infer.table import render

if TYPE_CHECKING:
    from edge_infer.bench.result import BenchReport


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compare", help="compare two saved bench results (bench --out): ratios with 95%% intervals")
    p.add_argument("base", metavar="BASE.json", help="the reference run")
    p.add_argument("other", metavar="OTHER.json", help="the run to compare with it")
    p.add_argument("--min-change", type=float, default=None, metavar="F", help="smallest change called faster or "
                   "slower, as a fraction (default 0.05: the run-to-run spread measured here)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.set_defaults(run=run)


def _run_line(tag: str, path: str, doc: BenchReport) -> str:
    m = doc.machine
    load = doc.load_average.get("before")
    kind = "" if doc.kind == "latency" else f" [{doc.kind}]"
    return (f"{tag}: {path}{kind}: {m.get('cpu_model', '?')} ({m.get('arch', '?')}, {m.get('cores_logical', '?')} "
            f"threads), {doc.created or '?'}" + (f", load average {load[0]:.2f}" if load else ""))  # fmt: skip


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def run(args: argparse.Namespace) -> int:
    from edge_infer.bench.compare import MIN_CHANGE, compare_results
    from edge_infer.errors import BenchError

    min_change = MIN_CHANGE if args.min_change is None else args.min_change
    if not 0 <= min_change < 1:
        raise BenchError(f"--min-change must be a fraction in [0, 1), got {min_change}")
    report = compare_results(args.base, args.other, min_change=min_change)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.rows else 1
    lines = [_run_line("base ", args.base, report.base), _run_line("other", args.other, report.other)]
    if not report.same_machine:
        lines.append("different machines: the ratios compare the devices (and whatever else changed)")
    rows = [[c.label, c.via, str(c.threads), str(c.batch) + (f" x{c.clients}" if c.clients > 1 else ""), _ms(c.base_p50), _ms(c.other_p50), f"{c.ratio:.3f}",
             f"{c.low:.3f}-{c.high:.3f}", _ms(c.base_e2e_p50), _ms(c.other_e2e_p50), c.verdict]
            for c in report.rows]  # fmt: skip
    headers = ["target", "via", "thr", "batch", "base p50 ms", "other p50 ms", "other/base", "95% interval",
               "base e2e p50", "other e2e p50", "verdict"]  # fmt: skip
    lines += ["", render(headers, rows, align="lllrrrrrrrl")] if rows else ["", "no target was measured in both runs"]
    for tag, names in (("only in base", report.only_base), ("only in other", report.only_other)):
        if names:
            lines.append(f"{tag}: {'; '.join(names)}")
    lines.append("\nother/base: ratio of median model-only latencies; 95% interval: bootstrap of both runs' samples. "
                 "The runs were not interleaved: load changes between them count as changes.")  # fmt: skip
    print("\n".join(lines))
    return 0 if report.rows else 1
