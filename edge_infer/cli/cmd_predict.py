"""``edge-infer predict ARTIFACT INPUT...``: classify files, folders or globs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from edge_infer.cli.table import render
from edge_infer.cli.tabular_predict import add_tabular_arguments, is_tabular_request, run_tabular
from edge_infer.errors import EdgeInferError, InputError
from edge_infer.inputs import expand_inputs
from edge_infer.runtime import load


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="classify image files, folders or globs with an artifact")
    p.add_argument("artifact", help="model file or its manifest (.json)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or glob patterns")
    p.add_argument("--top-k", type=int, default=5, help="how many classes to report per image (default 5)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_tabular_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if is_tabular_request(args):  # scikit-learn artifacts: --features / --features-file
        return run_tabular(args)
    if not args.inputs:
        raise InputError("give at least one image INPUT (file, folder or glob)")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    items = expand_inputs(args.inputs)
    results: list[dict[str, Any]] = []
    failures = 0
    with load(args.artifact, threads=args.threads) as predictor:
        for item in items:
            if item.error:
                results.append({"input": item.path, "error": item.error})
                failures += 1
                print(f"edge-infer predict: error: {item.error}", file=sys.stderr)
                continue
            try:
                pred = predictor.predict(item.path, top_k=args.top_k)
            except EdgeInferError as exc:
                results.append({"input": item.path, "error": str(exc)})
                failures += 1
                print(f"edge-infer predict: error: {exc}", file=sys.stderr)
                continue
            results.append(pred.to_dict())
        header = f"{predictor.name} [{predictor.manifest.format}, {predictor.backend}, {predictor.threads} threads]"
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results, header, args.top_k))
    if failures and failures == len(items):
        return 2
    return 1 if failures else 0


def format_table(results: list[dict[str, Any]], header: str, top_k: int) -> str:
    rows = []
    ok = [r for r in results if "error" not in r]
    for r in results:
        if "error" in r:
            rows.append([r["input"], "ERROR", "", "", "", "", r["error"].split(": ", 1)[-1]])
            continue
        others = ", ".join(f"{c['label']} {c['score']:.2f}" for c in r["top_k"][1:top_k])
        t = r["timings_ms"]
        rows.append(
            [r["input"], r["label"], f"{r['score']:.3f}", f"{t['preprocess']:.1f}", f"{t['inference']:.1f}",
             f"{t['total']:.1f}", others]
        )  # fmt: skip
    table = render(["input", "top-1", "score", "pre ms", "infer ms", "total ms", "next"], rows, align="lllrrrl")
    lines = [header, table]
    if ok:
        inf = np.array([r["timings_ms"]["inference"] for r in ok])
        tot = np.array([r["timings_ms"]["total"] for r in ok])
        lines.append(
            f"{len(ok)} image(s): inference p50 {np.median(inf):.1f} ms (first {inf[0]:.1f} ms, includes warm-up); "
            f"total p50 {np.median(tot):.1f} ms. For careful latency numbers use `edge-infer bench`."
        )
    return "\n".join(lines)
