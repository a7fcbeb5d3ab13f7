"""Quantization recipes tried for issue 4 on the default model: top-1 agreement with fp32 on the held-out photos.

    .venv/bin/python benchmarks/int8_recipes.py --out benchmarks/results/int8_recipes.json

Each recipe quantizes the pre-processed fp32 ONNX of EfficientNet-Lite0 (calibrated like ``onnx-int8``) and is run
three ways: as shipped (``session.x64quantprecision=1``), without the option, and with graph optimizations off (exact
QDQ arithmetic). ``cle`` applies cross-layer equalization (Nagel et al. 2019) to every Conv-ReLU6-Conv pair of the
BN-folded graph first, with scales bounded by calibration maxima; its float fidelity is reported.
``bias_correction`` folds the expected output shift of each Conv's int8 weights, (W_q - W) . E[x] with E[x] from the
calibration images, into its float bias before quantizing (Nagel et al. 2019). Finally the fp32 model and a few
recipes are timed as raw ONNX Runtime sessions by ``edge-infer bench``'s own interleaved run at 1 thread (the paired
per-round ratio holds on a shared machine). ``--out`` writes edge-infer bench JSON (kind ``int8-recipes``: the
timed sessions as results, every recipe's agreement in ``extra``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

X64 = {"session.x64quantprecision": "1"}
KIND = "int8-recipes"


def data(tmp: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from exporters.api import resolve_spec
    from exporters.context import ExportContext
    from exporters.onnx_int8 import calibration_batch, float_onnx, pre_process
    from exporters.samples import verification_images

    ctx = ExportContext(spec=resolve_spec("efficientnet_lite0"), out_dir=tmp, stem="lite0",
                        verify_images=verification_images())  # fmt: skip
    fp32, _ = float_onnx(ctx)
    (tmp / "fp32.onnx").write_bytes(Path(fp32).read_bytes())
    pre_process(tmp / "fp32.onnx", tmp / "pre.onnx")
    calib, _ = calibration_batch(ctx)
    idx = [list(ctx.verify_images).index(n) for n in ctx.holdout_names()]
    return calib, ctx.verify_batch[idx], ctx.reference_outputs[idx]


def session(path: Path, cfg: dict[str, str] | None = None, exact: bool = False) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level, so.intra_op_num_threads = 3, 1
    if exact:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for k, v in (cfg or {}).items():
        so.add_session_config_entry(k, v)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def outputs(sess: Any, x: np.ndarray) -> np.ndarray:
    return np.concatenate([sess.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])


def conv_clip_conv(model: Any) -> list[tuple[Any, Any]]:
    prod = {o: n for n in model.graph.node for o in n.output}
    cons: dict[str, list[Any]] = {}
    for n in model.graph.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    out = []
    for clip in (n for n in model.graph.node if n.op_type == "Clip"):
        a, bs = prod.get(clip.input[0]), cons.get(clip.output[0], [])
        if a is not None and a.op_type == "Conv" and len(bs) == 1 and bs[0].op_type == "Conv":
            if len(cons[a.output[0]]) == 1:
                out.append((a, bs[0]))
    return out


def equalize(src: Path, dst: Path, calib: np.ndarray) -> int:
    """Cross-layer equalization of Conv-ReLU6-Conv pairs; s_i >= max_i/6 where the channel stays under 6, else 1."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper as nh

    model = onnx.load(str(src))
    init = {t.name: t for t in model.graph.initializer}
    pairs = conv_clip_conv(model)
    probe = onnx.load(str(src))
    for a, _ in pairs:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(a.output[0], onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [a.output[0] for a, _ in pairs]
    maxima = [np.max([o.max(axis=(0, 2, 3)) for o in outs], axis=0) for outs in zip(
        *[sess.run(names, {"input": calib[i : i + 16]}) for i in range(0, len(calib), 16)])]  # fmt: skip
    for (a, b), mx in zip(pairs, maxima):
        wa, ba, wb = (nh.to_array(init[n]) for n in (a.input[1], a.input[2], b.input[1]))
        depthwise = wb.shape[1] == 1 and wb.shape[0] == wa.shape[0]
        ra = np.abs(wa).reshape(len(wa), -1).max(1)
        rb = np.abs(wb if depthwise else wb.transpose(1, 0, 2, 3)).reshape(len(wa), -1).max(1)
        s = np.where((ra > 0) & (rb > 0), np.sqrt(ra / np.maximum(rb, 1e-12)), 1.0)
        s = np.where(mx <= 6, np.maximum(s, mx / 6), 1.0).astype(np.float32)
        init[a.input[1]].CopyFrom(nh.from_array(wa / s.reshape(-1, 1, 1, 1), a.input[1]))
        init[a.input[2]].CopyFrom(nh.from_array(ba / s, a.input[2]))
        wb2 = wb * (s.reshape(-1, 1, 1, 1) if depthwise else s.reshape(1, -1, 1, 1))
        init[b.input[1]].CopyFrom(nh.from_array(wb2.astype(np.float32), b.input[1]))
    onnx.save(model, str(dst))
    return len(pairs)


def bias_correct(src: Path, quantized: Path, dst: Path, calib: np.ndarray) -> int:
    """Fold the expected output shift of each Conv's int8 weights, (W_q - W) . E[x], into its float bias."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper as nh

    model, qmodel = onnx.load(str(src)), onnx.load(str(quantized))
    init = {t.name: t for t in model.graph.initializer}
    qinit = {t.name: nh.to_array(t) for t in qmodel.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) == 3]
    deq = {}
    for n in (n for n in qmodel.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in qinit):
        q, scale = qinit[n.input[0]].astype(np.float64), qinit[n.input[1]]  # symmetric int8 weights: zero point 0
        if q.ndim == 4:
            deq[n.output[0]] = q * (scale.reshape(-1, 1, 1, 1) if scale.ndim == 1 else scale)
    weight_of = {n.name: deq[n.input[1]] for n in qmodel.graph.node if n.op_type == "Conv" and n.input[1] in deq}
    probe = onnx.load(str(src))
    names = [n.input[0] for n in convs if n.input[0] != "input"]
    for k in dict.fromkeys(names):
        probe.graph.output.append(onnx.helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = list(dict.fromkeys(names))
    runs = [sess.run(names, {"input": calib[i : i + 16]}) for i in range(0, len(calib), 16)]
    means = {k: np.concatenate([r[j] for r in runs]).mean(axis=(0, 2, 3)) for j, k in enumerate(names)}
    means["input"] = calib.mean(axis=(0, 2, 3))
    for n in (n for n in convs if n.name in weight_of):
        err = weight_of[n.name] - nh.to_array(init[n.input[1]])
        mu = means[n.input[0]]
        shift = err.sum(axis=(1, 2, 3)) * mu if err.shape[1] == 1 and len(mu) > 1 else (err.sum(axis=(2, 3)) @ mu)
        bias = nh.to_array(init[n.input[2]])
        init[n.input[2]].CopyFrom(nh.from_array((bias - shift).astype(np.float32), n.input[2]))
    onnx.save(model, str(dst))
    return len(weight_of)


def quantize(
    src: Path, dst: Path, calib: np.ndarray, exclude: list[str], act16: bool = False, s8s8: bool = False
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from exporters.onnx_int8 import ArrayReader

    act = QuantType.QUInt16 if act16 else QuantType.QInt8 if s8s8 else QuantType.QUInt8
    quantize_static(str(src), str(dst), ArrayReader("input", calib), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=act, weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": s8s8})  # fmt: skip


def recipes(pre: Path) -> dict[str, dict[str, Any]]:
    """Each recipe: nodes kept in float, CLE, bias correction, activation type."""
    import onnx

    convs = [n for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]
    dw = [n.name for n in convs if any(a.name == "group" and a.i > 1 for a in n.attribute)]
    stem_gemm = [convs[0].name] + [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in ("Gemm", "MatMul")]
    return {"shipped": {}, "stem_gemm_float": {"exclude": stem_gemm}, "depthwise_float": {"exclude": dw},
            "depthwise_stem_gemm_float": {"exclude": dw + stem_gemm}, "cle": {"cle": True},
            "bias_correction": {"bias_correction": True},
            "s8s8_symmetric": {"s8s8": True}, "a16w8": {"act16": True},
            "a16w8_depthwise_float": {"act16": True, "exclude": dw}}  # fmt: skip


def timings(artifact: Path, paths: dict[str, tuple[Path, dict[str, str]]], runs: int) -> Any:
    """Each model file as a raw session fed ``artifact``'s preprocessing, interleaved at 1 thread: a BenchReport."""
    from edge_infer.bench import BenchConfig, measure
    from edge_infer.bench.raw import session_target

    targets = [session_target(artifact, label=k, model=p, session_config=cfg) for k, (p, cfg) in paths.items()]
    config = BenchConfig(runs=runs, warmup=3, threads=(1,), e2e=False, memory=False)
    return measure(targets, config, progress=lambda m: print(f"   {m}", file=sys.stderr))


def speedups(report: Any) -> dict[str, float]:
    """Each session's speed relative to fp32 (fp32 p50 / its p50)."""
    p50 = {r.label: r.latency.p50 for r in report.results}
    return {k: round(p50["fp32"] / v, 2) for k, v in p50.items()}


def fp32_artifact(folder: Path) -> Path:
    """An exported fp32 ONNX artifact: its manifest gives the timed sessions their preprocessing."""
    from exporters.api import export

    (outcome,) = export("efficientnet_lite0", formats="onnx", out=folder, verify=False)
    if outcome.artifact is None:
        raise SystemExit(f"int8 recipes: cannot export the fp32 artifact: {outcome.error}")
    return Path(outcome.artifact.path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="int8-recipes-") as t:
        tmp = Path(t)
        calib, hold, ref = data(tmp)
        result: dict[str, Any] = {"images": len(hold), "recipes": {}}
        for name, r in recipes(tmp / "pre.onnx").items():
            src = tmp / "pre.onnx"
            row: dict[str, Any] = {}
            if r.get("cle"):
                row["pairs"] = equalize(src, tmp / "cle.onnx", calib)
                src = tmp / "cle.onnx"
                row["float_max_abs_diff"] = float(np.abs(outputs(session(src), hold) - ref).max())
            if r.get("bias_correction"):
                quantize(src, tmp / "first.onnx", calib, [])
                row["corrected_convs"] = bias_correct(src, tmp / "first.onnx", tmp / "bc.onnx", calib)
                src = tmp / "bc.onnx"
            act16, s8s8 = r.get("act16", False), r.get("s8s8", False)
            quantize(src, tmp / f"{name}.onnx", calib, r.get("exclude", []), act16, s8s8)
            for how, cfg, exact in (("x64quantprecision", X64, False), ("plain", {}, False), ("exact_qdq", {}, True)):
                top = outputs(session(tmp / f"{name}.onnx", cfg, exact), hold).argmax(1)
                row[how] = float((top == ref.argmax(1)).mean())
            result["recipes"][name] = row
            print(name, json.dumps(row), flush=True)
        timed = {"fp32": (tmp / "fp32.onnx", {}), **{k: (tmp / f"{k}.onnx", X64) for k in
                 ("shipped", "stem_gemm_float", "depthwise_float", "a16w8")}}  # fmt: skip
        report = timings(fp32_artifact(tmp / "artifact"), timed, args.runs)
        result["speedup_vs_fp32_1thread"] = speedups(report)
        print("speed vs fp32 (1 thread, interleaved):", result["speedup_vs_fp32_1thread"])
    if args.out:
        replace(report, kind=KIND, extra=result).save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
