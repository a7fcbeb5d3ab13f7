"""The int8 speed-versus-faithfulness frontier: every ONNX int8 recipe tried, judged by the int8 rule in both int8
arithmetics, timed against ONNX Runtime fp32 at 1 thread in one interleaved run.

    .venv/bin/python benchmarks/int8_frontier.py --out benchmarks/results/<machine>/int8_frontier.json

Each recipe is built from the same fp32 ONNX file (exported once into ``--artifacts``) and judged by the int8 rule
(``edge_infer.int8_rule``) on the held-out photos and crops (those calibration never sees):

- ``exact32``: ONNX Runtime's fused integer kernels with ``session.x64quantprecision`` (32-bit sums on every CPU: VNNI,
  AVX2's u8 x u8 kernels, ARM64 give the same logits; the verifier's reference, docs/int8.md);
- ``pairs16``: ONNX Runtime's real AVX2 kernels (``vpmaddubsw``) under ``qemu-x86_64-static -cpu Haswell``
  (user-mode emulation: the CPUID the kernels are chosen by says AVX2, no VNNI). Emulated timings mean nothing;
  only answers are used. Recipes whose session config makes ONNX Runtime exact on AVX2 are run there too, once, to
  show that they are.

Speed: p50 of fp32 over p50 of the recipe at 1 thread, from ``edge-infer bench``'s interleaved run (paired
per-round ratios hold on a busy machine), on this machine's kernels only: on a VNNI host that is what VNNI laptops
get, not what an AVX2 laptop gets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.int8_runs import EXACT, emulated_pairs16, held_out_setup, run_outputs, speed_vs_fp32  # noqa: E402
from targets import OnnxQuantSettings  # noqa: E402

STEM = "efficientnet_lite0"
KIND = "int8-frontier"


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """One way to build the int8 file: quantization settings, nodes kept in float, the session config it ships."""

    name: str
    settings: OnnxQuantSettings = field(default_factory=OnnxQuantSettings)
    keep_risky: int = 0  # keep this many Conv/Gemm in float, those whose int8 weight pairs can saturate most
    session_config: dict[str, str] = field(default_factory=dict)
    note: str = ""


NO_BC = OnnxQuantSettings(bias_correction=False)  # the recipes of 2026-12-06, before bias correction
SHIPPED = OnnxQuantSettings(calibrate_method="percentile", bias_correction=True)
RECIPES: tuple[Recipe, ...] = (
    Recipe(name="u8s8 minmax + x64quantprecision", settings=NO_BC, session_config=EXACT,
           note="shipped until 2026-12-06: exact sums everywhere, u8u8 kernels on AVX2"),
    Recipe(name="u8s8 minmax", settings=NO_BC,
           note="the same file without the option: fast vpmaddubsw kernels on AVX2"),
    Recipe(name="u8s8 minmax reduce_range + x64quantprecision",
           settings=OnnxQuantSettings(reduce_range=True, bias_correction=False), session_config=EXACT,
           note="what the laptop-x86 profile exported until 2026-12-06"),
    Recipe(name="u8s8 minmax reduce_range", settings=OnnxQuantSettings(reduce_range=True, bias_correction=False),
           note="7-bit weights: pairs cannot saturate (127*127*2 < 32767)"),
    Recipe(name="u8s8 percentile + x64quantprecision",
           settings=OnnxQuantSettings(calibrate_method="percentile", bias_correction=False), session_config=EXACT),
    Recipe(name="u8s8 minmax, 8 riskiest layers float", settings=NO_BC, keep_risky=8),
    Recipe(name="u8s8 minmax, 16 riskiest layers float", settings=NO_BC, keep_risky=16),
    Recipe(name="u8s8 minmax + bias correction + x64quantprecision", session_config=EXACT),
    Recipe(name="u8s8 minmax reduce_range + bias correction + x64quantprecision",
           settings=OnnxQuantSettings(reduce_range=True), session_config=EXACT,
           note="what the laptop-x86 profile exports from 2026-12-07"),
    Recipe(name="u8s8 percentile + bias correction + x64quantprecision", settings=SHIPPED, session_config=EXACT,
           note="shipped from 2026-12-07 (default, rpi4, rpi5, mobile-arm64, laptop-x86-vnni): exact sums everywhere"),
    Recipe(name="u8s8 percentile + bias correction", settings=SHIPPED,
           note="the same file without the option: what load() runs on exact32 CPUs (VNNI, arm64)"),
)


def pair_risk(model: Any) -> dict[str, float]:
    """Per Conv/Gemm node of a QDQ model: the share of adjacent weight pairs (along the reduction axis, as the int8
    GEMM packs them) of one sign whose magnitudes add to more than 128, i.e. that can saturate a signed 16-bit
    lane when both activations are near 255 (255 * 129 > 32767)."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    risk: dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2:
            continue
        dq = producer.get(node.input[1])
        w = inits.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if w is None or w.dtype != np.int8:
            continue
        k = w.reshape(w.shape[0], -1).astype(np.int32)
        if k.shape[1] < 2:
            continue
        k = k[:, : k.shape[1] // 2 * 2].reshape(k.shape[0], -1, 2)
        same = np.sign(k[..., 0]) == np.sign(k[..., 1])
        risk[node.name] = float((same & (np.abs(k).sum(-1) > 128)).mean())
    return risk


def build(recipe: Recipe, pre: Path, out: Path, calibration: np.ndarray) -> dict[str, Any]:
    import onnx

    from exporters.onnx_int8 import quantize_onnx

    keep: list[str] = []
    if recipe.keep_risky:
        probe = out.with_suffix(".probe.onnx")
        quantize_onnx(pre, probe, recipe.settings, mode="static", calibration=calibration)
        risk = pair_risk(onnx.load(str(probe)))
        keep = [n for n, r in sorted(risk.items(), key=lambda kv: -kv[1])[: recipe.keep_risky] if r > 0]
        probe.unlink()
    quantize_onnx(pre, out, recipe.settings, mode="static", calibration=calibration, keep_float=keep)
    return {"kept_float": keep}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artifacts", default="out/int8_frontier", help="folder for the fp32 export and recipe files")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--recipes", default="all", help="comma list of recipe numbers (1-based) or 'all'")
    p.add_argument("--no-emulation", action="store_true", help="skip the pairs16 runs under qemu")
    p.add_argument("--reuse", action="store_true", help="reuse recipe files already in --artifacts (no re-quantizing)")
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--nice-build", action="store_true",
                   help="build and judge at the lowest CPU priority, time at normal priority (needs root to go back)")
    return frontier(p.parse_args(argv))


def frontier(args: argparse.Namespace) -> int:
    from edge_infer.arithmetic import int8_arithmetic
    from edge_infer.artifact import Artifact
    from edge_infer.bench.raw import session_target
    from edge_infer.int8_rule import DEFAULT_RULE
    from edge_infer.machine import load_average, machine_info
    from edge_infer.preprocess import Preprocessor
    from exporters.calibration import calibration_images
    from exporters.onnx_int8 import pre_process

    if args.nice_build:
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    folder = Path(args.artifacts)
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / f"{STEM}.onnx"
    if not fp32.exists():
        from exporters.api import export

        export(STEM, formats="onnx", out=folder)
    art = Artifact.read(fp32)
    names, x, work, reference = held_out_setup(fp32, "int8-frontier-")
    spec = art.manifest.preprocess
    assert spec is not None  # held_out_setup refused a manifest without preprocessing
    pre = work / "pre.onnx"
    pre_process(fp32, pre)
    calib_images, _ = calibration_images(None, count=128)
    prep = Preprocessor(spec)
    calib = np.concatenate([prep(im) for im in calib_images.values()]).astype(np.float32)
    chosen = RECIPES if args.recipes == "all" else tuple(RECIPES[int(i) - 1] for i in args.recipes.split(","))
    here = int8_arithmetic()
    rows: list[dict[str, Any]] = []
    targets = [session_target(fp32, label="fp32", model=fp32, session_config={})]
    same_file: dict[tuple[OnnxQuantSettings, int], Path] = {}  # a recipe differing only in session config
    for i, recipe in enumerate(chosen):
        model = folder / f"{STEM}.recipe{RECIPES.index(recipe) + 1}.int8.onnx"
        twin = same_file.get((recipe.settings, recipe.keep_risky))
        if args.reuse and model.exists():
            built: dict[str, Any] = {"reused": model.name}
        elif twin is not None:
            shutil.copyfile(twin, model)
            built = {"same_file_as": twin.name}
        else:
            built = build(recipe, pre, model, calib)
        same_file[(recipe.settings, recipe.keep_risky)] = model
        exact = run_outputs(model, x, {**recipe.session_config, **EXACT})
        row: dict[str, Any] = {"recipe": recipe.name, "note": recipe.note, "file": model.name,
                               "session_config": recipe.session_config, **built,
                               "exact32": {"how": "ONNX Runtime's integer kernels, session.x64quantprecision",
                                           **DEFAULT_RULE.judge(reference, exact, names).to_dict()}}  # fmt: skip
        if recipe.session_config == EXACT:  # u8 x u8 kernels on AVX2: exact (measured on an AVX2 host, docs/int8.md)
            row["pairs16"] = {**row["exact32"], "how": "same as exact32: ONNX Runtime's u8 x u8 kernels under "
                              "session.x64quantprecision sum exactly on AVX2"}  # fmt: skip
        elif here == "pairs16":  # this machine's own AVX2 kernels
            native = run_outputs(model, x, recipe.session_config)
            row["pairs16"] = {"how": "this machine's AVX2 kernels (ONNX Runtime, all optimizations)",
                              **DEFAULT_RULE.judge(reference, native, names).to_dict()}  # fmt: skip
        elif not args.no_emulation:
            emulated = emulated_pairs16(model, work / "x.npy", recipe.session_config, work)
            if emulated is not None:
                row["pairs16"] = {"how": "ONNX Runtime AVX2 kernels under qemu-x86_64 -cpu Haswell",
                                  **DEFAULT_RULE.judge(reference, emulated, names).to_dict()}  # fmt: skip
        rows.append(row)
        targets.append(session_target(fp32, label=recipe.name, model=model, session_config=recipe.session_config))
        print(f"[{i + 1}/{len(chosen)}] {recipe.name}: exact32 {row['exact32']['passed']}, "
              f"pairs16 {row.get('pairs16', {}).get('passed')}", file=sys.stderr, flush=True)
    if args.nice_build:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    load_before = load_average()
    speed = speed_vs_fp32(targets, args.runs, args.warmup)
    for row in rows:
        row["speed_vs_ort_fp32_1thread"], row["p50_ms"] = speed[row["recipe"]]
    info = machine_info()
    result = {"kind": KIND, "machine": {"cpu": info.cpu_model, "isa": info.isa_summary, "int8_arithmetic": here},
              "load_average": {"before_timing": load_before, "after_timing": load_average()},
              "images": len(names), "rule": DEFAULT_RULE.__dict__, "fp32_p50_ms": speed["fp32"][1],
              "timing": f"1 thread, {args.runs} interleaved rounds, p50 ratio to ONNX Runtime fp32", "recipes": rows}  # fmt: skip
    for row in rows:
        e, q = row["exact32"], row.get("pairs16") or {}
        print(f"{row['speed_vs_ort_fp32_1thread']:5.2f}x  exact32 {'pass' if e['passed'] else 'FAIL'} "
              f"{e['confident_agreement']:.1%}/{e['top5_coverage']:.1%}  pairs16 "
              f"{('pass' if q.get('passed') else 'FAIL') if q else '-'} "
              f"{q.get('confident_agreement', 0):.1%}/{q.get('top5_coverage', 0):.1%}  {row['recipe']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
