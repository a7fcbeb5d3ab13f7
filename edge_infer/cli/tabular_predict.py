"""``edge-infer predict ARTIFACT --features 5.1,3.5,1.4,0.2`` / ``--features-file rows.csv``: tabular models."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.backends import load
from edge_infer.cli.options import note_choice
from edge_infer.errors import EdgeInferError, InputError, SpecError
from edge_infer.features import read_csv_rows
from edge_infer.predictors import TabularPredictor
from edge_infer.table import render
from edge_infer.tasks import TASKS

IMAGE_ONLY_OPTIONS = ("out", "resume", "workers", "progress")  # options of the image path, refused here


def add_tabular_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("tabular models (scikit-learn artifacts)")
    g.add_argument("--features", default=None, metavar="V1,V2,...",
                   help="one row of numbers in the manifest's feature order (negative first value: --features=-1,2)")
    g.add_argument("--features-file", default=None, metavar="CSV",
                   help="CSV of rows, one per line; a header row of feature names (any order) is optional")
    g.add_argument("--trust", action="store_true",
                   help="allow loading a joblib/pickle artifact (pickle runs code; prefer the .onnx)")  # fmt: skip


def artifact_takes(artifact: str) -> str | None:
    """What the artifact's task takes ("image" / "features"), or None if the manifest cannot be read (the normal
    path then reports why)."""
    try:
        task = TASKS.get(Artifact.read(artifact, check_sha256=False).manifest.task)
    except EdgeInferError:
        return None
    return task.takes if task is not None else None


def is_tabular_request(args: argparse.Namespace) -> bool:
    if args.features is not None or args.features_file is not None:
        return True
    return artifact_takes(args.artifact) == "features"


def run_tabular(args: argparse.Namespace) -> int:
    """Predict one row (``--features``) or every row of a CSV (``--features-file``)."""
    if artifact_takes(args.artifact) == "image":
        raise SpecError(f"{args.artifact} is an image model; --features/--features-file are for tabular models; "
                        "give image files instead")  # fmt: skip
    if args.inputs:
        raise SpecError(f"a tabular model takes --features V1,V2,... or --features-file rows.csv, not INPUT arguments "
                        f"(got {args.inputs[0]!r})")  # fmt: skip
    if (args.features is None) == (args.features_file is None):
        raise SpecError("give exactly one of --features V1,V2,... or --features-file rows.csv for a tabular model")
    given = vars(args)
    image_only = [f"--{o}" for o in IMAGE_ONLY_OPTIONS if given.get(o) not in (None, False, 1)]
    if image_only:
        raise SpecError(f"{', '.join(image_only)}: for image inputs only, not for tabular models")
    with load(args.artifact, threads=args.threads, trust=args.trust, backend=args.backend) as predictor:
        note_choice("predict", predictor.choice)
        if not isinstance(predictor, TabularPredictor):
            raise SpecError(f"{args.artifact} is not a tabular model; give image files instead")
        header = predictor.describe()
        if args.features is not None:
            text = args.features.strip()
            values = re.split(r"\s*,\s*", text) if "," in text else text.split() or [""]
            result = predictor.predict(values)
            one = (result[0] if isinstance(result, list) else result).to_dict()
            print(json.dumps(one, indent=2) if args.json else format_table([one], header))
            return 0
        results = predict_file(predictor, Path(args.features_file))
    print(json.dumps(results, indent=2) if args.json else format_table(results, header))
    failures = sum("error" in r for r in results)
    for r in results:
        if "error" in r:
            print(f"edge-infer predict: error: {r['error']}", file=sys.stderr)
    if failures and failures == len(results):
        return 2
    return 1 if failures else 0


def predict_file(predictor: TabularPredictor, path: Path) -> list[dict[str, Any]]:
    """Validate every row (bad rows become errors), then predict the good rows in one model call."""
    rows = read_csv_rows(path, predictor.features.names)
    results: list[dict[str, Any]] = [{} for _ in rows]
    good, arrays = [], []
    for i, cells in enumerate(rows, start=1):
        try:
            arrays.append(predictor.features.row_array(cells, row=i))
            good.append(i)
        except InputError as exc:
            results[i - 1] = {"row": i, "error": f"{path}: {exc}"}
    if arrays:
        import numpy as np

        for i, pred in zip(good, predictor.predict_rows(np.stack(arrays))):
            results[i - 1] = {"row": i, **pred.to_dict()}
    return results


def format_table(results: list[dict[str, Any]], header: str) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([str(r.get("row", "")), "ERROR", "", r["error"].split(": ", 1)[-1]])
            continue
        probs = r.get("probabilities") or {}
        score = f"{probs[r['prediction']]:.3f}" if r["prediction"] in probs else ""
        ranked = sorted(((p, k) for k, p in probs.items() if k != r["prediction"]), key=lambda t: (-t[0], t[1]))[:3]
        value = r["prediction"] if isinstance(r["prediction"], str) else f"{r['prediction']:.6g}"
        rows.append([str(r.get("row", 1)), value, score, ", ".join(f"{k} {p:.3f}" for p, k in ranked)])
    return "\n".join([header, render(["row", "prediction", "probability", "next"], rows, align="rlrl")])
