"""Choosing the onnx-int8 recipe on validation photos, judged by the int8 rule in integer-kernel arithmetic.

    .venv/bin/python benchmarks/int8_recipe_search.py --artifacts out/int8_recipe_search \
        --out benchmarks/results/<machine>/int8_recipe_search.json

Every candidate recipe is built from one fp32 ONNX file of EfficientNet-Lite0 (exported once into ``--artifacts``)
and judged by the int8 rule (``edge_infer.int8_rule``) against that fp32 file, on three sets:

- ``other``: pictures that ship with scikit-image and matplotlib that neither calibration nor verification uses,
  with crops (``benchmarks/support/validation_sets.py``);
- ``views``: small crops of the calibration photos with seeds calibration never uses;
- ``verification``: the 195 held-out images the export's verdict is computed on. It is **only reported**: recipes
  are compared on ``other`` and ``views`` (and their union), never chosen on it.

The int8 logits are ONNX Runtime's fused integer kernels with ``session.x64quantprecision`` (32-bit sums: what
the verifier's ``exact32`` reference, VNNI and ARM64 compute). For each set: confident agreement (a) with its flips,
top-5 coverage (b) with its misses, mean |logit diff|, and the margin: how many more flips (misses) the set could
take before (a) ((b)) fails. Then every recipe is timed against fp32 at 1 thread in one interleaved run, with the
session config ``load()`` applies on this machine (none on a VNNI or ARM CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.int8_recipe_build import SHIPPED, Recipe, build, nncf_available  # noqa: E402
from support.int8_runs import EXACT, held_out, run_outputs, speed_vs_fp32  # noqa: E402
from support.validation_sets import calibration_views, other_photos  # noqa: E402
from targets import OnnxQuantSettings  # noqa: E402

STEM = "efficientnet_lite0"
KIND = "int8-recipe-search"
VALIDATION = ("other", "views")


def _pct(p: float) -> OnnxQuantSettings:
    return OnnxQuantSettings(calibrate_method="percentile", calibrate_percentile=p, bias_correction=True)


RECIPES: tuple[Recipe, ...] = (
    Recipe(name="percentile 99.999 + BC (shipped)", note="default and exact32 targets since 2026-12-07"),
    Recipe(name="percentile 99.99 + BC", settings=_pct(99.99)),
    Recipe(name="percentile 99.9999 + BC", settings=_pct(99.9999)),
    Recipe(name="entropy + BC", settings=OnnxQuantSettings(calibrate_method="entropy", bias_correction=True),
           note="ONNX Runtime's entropy calibrator under quantize_static: 128 histogram bins and 128 quantized bins "
                "leave one candidate threshold, the full range, so the file is min/max's bit for bit"),
    Recipe(name="minmax + BC", settings=OnnxQuantSettings(calibrate_method="minmax", bias_correction=True)),
    Recipe(name="percentile 99.999 + BC, stem conv float", keep=("stem",)),
    Recipe(name="percentile 99.999 + BC, classifier float", keep=("classifier",)),
    Recipe(name="percentile 99.999 + BC, 256 calibration images", calibration_count=256),
    Recipe(name="NNCF 3.4 (ONNX), defaults", builder="nncf", note="fast bias correction"),
    Recipe(name="NNCF 3.4 (ONNX), fast_bias_correction=False", builder="nncf",
           nncf_options={"fast_bias_correction": False}, note="NNCF's full bias correction"),
    Recipe(name="percentile 99.999 + BC, stem conv and classifier float", keep=("stem", "classifier")),
    Recipe(name="percentile 99.999 + BC, 256 calibration images, classifier float", keep=("classifier",),
           calibration_count=256),
    Recipe(name="percentile 99.999 + BC, 256 calibration images, stem conv float", keep=("stem",),
           calibration_count=256),
    Recipe(name="percentile 99.999 + BC, head conv float", keep=("head",)),
    Recipe(name="percentile 99.999 + BC, stem and head conv float", keep=("stem", "head")),
)


def allowed(n: int, threshold: float) -> int:
    """The most failures among ``n`` that keep the pass rate at or above ``threshold``."""
    k = math.floor(n * (1 - threshold) + 1e-9)
    while k > 0 and (n - k) / n < threshold:
        k -= 1
    return k


def gap_error(reference: np.ndarray, outputs: np.ndarray, confident_probability: float) -> float:
    """Mean over the confident images of |change of fp32's top-1 minus top-2 logit gap| (the same two classes in
    both): what decides a flip, less noisy than counting the near-ties that did flip."""
    z = reference - reference.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    sure = p.max(axis=1) >= confident_probability
    order = np.argsort(-reference, axis=1)[:, :2]
    rows = np.arange(len(reference))
    gap_ref = reference[rows, order[:, 0]] - reference[rows, order[:, 1]]
    gap_out = outputs[rows, order[:, 0]] - outputs[rows, order[:, 1]]
    return round(float(np.abs(gap_out - gap_ref)[sure].mean()), 4) if sure.any() else float("nan")


def summary(verdict: dict[str, Any]) -> dict[str, Any]:
    """The rule's numbers on one set and the margin on (a) and (b)."""
    rule = verdict["rule"]
    n, big_n = verdict["confident_images"], verdict["images"]
    flips, misses = len(verdict["confident_disagreements"]), len(verdict["top5_misses"])
    return {
        "images": big_n, "confident": n, "flips": flips, "top5_misses": misses,
        "confident_agreement": verdict["confident_agreement"], "top5_coverage": verdict["top5_coverage"],
        "mean_abs_logit_diff": round(verdict["mean_abs_logit_diff"], 4),
        "margin_a": allowed(n, rule["min_confident_agreement"]) - flips,
        "margin_b": allowed(big_n, rule["min_top5_coverage"]) - misses,
        "flipped": verdict["confident_disagreements"], "missed": verdict["top5_misses"],
    }  # fmt: skip


def preprocess_sets(spec: Any) -> tuple[dict[str, slice], list[str], np.ndarray]:
    """The three sets, preprocessed into one batch: (set -> rows, names, NCHW float32)."""
    from edge_infer.preprocess import Preprocessor

    pre = Preprocessor(spec)
    names, x = held_out(spec)
    parts = {"verification": (names, x)}
    for key, images in (("other", other_photos()), ("views", calibration_views())):
        parts[key] = (list(images), np.concatenate([pre(im) for im in images.values()]).astype(np.float32))
    rows, start = {}, 0
    for key, (n, _) in parts.items():
        rows[key] = slice(start, start + len(n))
        start += len(n)
    all_names = [name for n, _ in parts.values() for name in n]
    return rows, all_names, np.concatenate([b for _, b in parts.values()])


def judge(reference: np.ndarray, outputs: np.ndarray, rows: dict[str, slice], names: list[str]) -> dict[str, Any]:
    from edge_infer.int8_rule import DEFAULT_RULE

    p = DEFAULT_RULE.confident_probability
    out: dict[str, Any] = {}
    for key, s in rows.items():
        out[key] = {**summary(DEFAULT_RULE.judge(reference[s], outputs[s], names[s]).to_dict()),
                    "mean_gap_error": gap_error(reference[s], outputs[s], p)}  # fmt: skip
    idx = np.concatenate([np.arange(len(names))[rows[k]] for k in VALIDATION])
    pooled = summary(DEFAULT_RULE.judge(reference[idx], outputs[idx], [names[i] for i in idx]).to_dict())
    return {**out, "validation": {**pooled, "mean_gap_error": gap_error(reference[idx], outputs[idx], p)}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    p.add_argument("--artifacts", default="out/int8_recipe_search", help="folder for the fp32 export and recipe files")
    p.add_argument("--recipes", default="all", help="comma list of recipe numbers (1-based) or 'all'")
    p.add_argument("--reuse", action="store_true", help="reuse recipe files already in --artifacts")
    p.add_argument("--runs", type=int, default=40, help="interleaved timing rounds (0: no timing)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    args = p.parse_args(argv)
    if args.list:
        for i, r in enumerate(RECIPES, 1):
            print(f"{i:2d}. {r.name}")
        return 0
    return search(args)


def build_all(args: argparse.Namespace, folder: Path, pre: Path, spec: Any, chosen: tuple[Recipe, ...],
              judged: Callable[[Path], dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """Build (or reuse) each chosen recipe and judge it; skipped recipes get a reason."""
    from edge_infer.preprocess import Preprocessor
    from exporters.calibration import calibration_images

    prep, calib_cache = Preprocessor(spec), dict[int, np.ndarray]()
    missing_nncf = nncf_available()
    rows: list[dict[str, Any]] = []
    for recipe in chosen:
        number = RECIPES.index(recipe) + 1
        model = folder / f"{STEM}.search{number}.int8.onnx"
        row: dict[str, Any] = {"recipe": recipe.name, "number": number, "note": recipe.note, "file": model.name,
                               "calibration_images": recipe.calibration_count, "builder": recipe.builder}  # fmt: skip
        if recipe.builder == "nncf" and missing_nncf:
            rows.append({**row, "skipped": missing_nncf})
            continue
        if args.reuse and model.exists():
            row["built"] = {"reused": model.name}
        else:
            if recipe.calibration_count not in calib_cache:
                images, _ = calibration_images(None, count=recipe.calibration_count)
                calib_cache[recipe.calibration_count] = np.concatenate([prep(im) for im in images.values()]).astype(
                    np.float32)
            try:
                row["built"] = build(recipe, pre, model, calib_cache[recipe.calibration_count])
            except Exception as exc:  # noqa: BLE001  (a recipe that cannot be built is reported, not fatal)
                rows.append({**row, "skipped": f"build failed: {type(exc).__name__}: {str(exc)[:300]}"})
                continue
        row.update(judged(model))
        rows.append(row)
        v, o, w = row["verification"], row["validation"], row["views"]
        print(f"[{number}] {recipe.name}: validation a {o['flips']}/{o['confident']} (margin {o['margin_a']}), "
              f"b {o['top5_misses']} (margin {o['margin_b']}), |d| {o['mean_abs_logit_diff']}; views "
              f"{w['flips']}/{w['confident']}; verification {v['flips']}/{v['confident']}, {v['top5_misses']} miss",
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def search(args: argparse.Namespace) -> int:
    from edge_infer.arithmetic import int8_arithmetic, runtime_config_here
    from edge_infer.artifact import Artifact
    from edge_infer.backends import get_backend
    from edge_infer.machine import load_average, machine_info
    from exporters.onnx_int8 import pre_process

    folder = Path(args.artifacts)
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / f"{STEM}.onnx"
    if not fp32.exists():
        from exporters.api import export

        export(STEM, formats="onnx", out=folder)
    spec = Artifact.read(fp32).manifest.preprocess
    if spec is None:
        raise SystemExit(f"{fp32}: an image model's manifest has preprocessing; this one has none")
    sets, names, x = preprocess_sets(spec)
    reference = run_outputs(fp32, x, {})
    work = Path(tempfile.mkdtemp(prefix="int8-recipe-search-"))
    pre = work / "pre.onnx"
    pre_process(fp32, pre)
    load_start = load_average()

    def judged(model: Path) -> dict[str, Any]:
        exact = run_outputs(model, x, EXACT)
        here = run_outputs(model, x, {})  # this machine's default kernels: the same as exact on VNNI and ARM
        return {**judge(reference, exact, sets, names),
                "default_kernels_bit_identical": f"{int(np.all(exact == here, axis=1).sum())}/{len(x)}"}  # fmt: skip

    chosen = RECIPES if args.recipes == "all" else tuple(RECIPES[int(i) - 1] for i in args.recipes.split(","))
    rows = build_all(args, folder, pre, spec, chosen, judged)
    config_here = runtime_config_here(EXACT, get_backend("onnxruntime"))
    timing = time_recipes(fp32, folder, rows, config_here, args) if args.runs > 0 else None
    info = machine_info()
    result = {
        "kind": KIND, "machine": {"cpu": info.cpu_model, "isa": info.isa_summary, "int8_arithmetic": int8_arithmetic()},
        "load_average": {"start": load_start, "end": load_average()},
        "model": STEM, "reference": "the fp32 ONNX file (agrees with eager PyTorch to 1e-5)",
        "int8_outputs": "ONNX Runtime fused integer kernels with session.x64quantprecision (exact32)",
        "sets": {k: {"images": s.stop - s.start} for k, s in sets.items()},
        "selection": "recipes are compared on 'other' and 'views' (pooled as 'validation'); 'verification' is only "
                     "reported",
        "timing": timing, "recipes": rows,
    }  # fmt: skip
    print_table(rows)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def time_recipes(fp32: Path, folder: Path, rows: list[dict[str, Any]], config: dict[str, str],
                 args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """p50 ratio fp32 / recipe at 1 thread, interleaved, with the session config ``load()`` applies here."""
    from edge_infer.bench.raw import session_target
    from edge_infer.machine import load_average

    built = [r for r in rows if "skipped" not in r]
    targets = [session_target(fp32, label="fp32", model=fp32, session_config={})]
    targets += [session_target(fp32, label=r["recipe"], model=folder / r["file"], session_config=config) for r in built]
    before = load_average()
    speed = speed_vs_fp32(targets, args.runs, args.warmup)
    for row in built:
        row["speed_vs_fp32_1thread"], row["p50_ms"] = speed[row["recipe"]]
    return {"how": f"1 thread, {args.runs} interleaved rounds, p50 ratio to ONNX Runtime fp32, session config "
                   f"{config or 'none'} (what load() applies on this machine)",
            "fp32_p50_ms": speed["fp32"][1], "load_average": {"before": before, "after": load_average()},
            "nice": os.getpriority(os.PRIO_PROCESS, 0)}  # fmt: skip


def print_table(rows: list[dict[str, Any]]) -> None:
    def cell(s: dict[str, Any]) -> str:
        return (f"{s['flips']}/{s['confident']} +{s['margin_a']} {s['top5_misses']}/{s['images']} +{s['margin_b']} "
                f"{s['mean_abs_logit_diff']:.3f} gap {s['mean_gap_error']:.3f}")  # fmt: skip

    print("recipe | speed | other | views | validation | verification  (flips/confident +margin misses/images "
          "+margin |d| gap-error)")  # fmt: skip
    for r in rows:
        if "skipped" in r:
            print(f"{r['recipe']} | skipped: {r['skipped']}")
            continue
        speed = f"{r['speed_vs_fp32_1thread']:.2f}x" if "speed_vs_fp32_1thread" in r else "-"
        print(f"{r['recipe']} | {speed} | {cell(r['other'])} | {cell(r['views'])} | {cell(r['validation'])} | "
              f"{cell(r['verification'])}")


if __name__ == "__main__":
    raise SystemExit(main())
