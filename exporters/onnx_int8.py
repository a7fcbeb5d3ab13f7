"""ONNX int8: ONNX Runtime quantization after its pre-processing step, calibrated on real images, settings per target.

Static QDQ for convolutional models (calibrated on a user folder or the built-in photos with augmentation, then bias
correction of the int8 weights' rounding on the same images), dynamic quantization for MatMul-heavy models. Every result is run on the CPU provider before it is called an artifact.

Why ``session.x64quantprecision``: ONNX Runtime's AVX2/AVX-512 (no VNNI) u8*s8 kernels add pairs of products in
16 bits and saturate when weights use the full int8 range. With this session option ONNX Runtime converts such
weights to u8 on those CPUs only (no effect on VNNI x86 or ARM). The manifest records it and the predictor applies it.
"""

from __future__ import annotations

import collections
import dataclasses
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import ExportError, first_line
from exporters.context import ExportContext, ExportedFile
from exporters.onnx_fp32 import export_onnx_file
from exporters.registry import Tolerance, register_exporter
from edge_infer.manifest import RuntimeHints
from targets import OnnxQuantSettings, Target

# No target: QDQ, U8S8, per-channel, full 8-bit weights, percentile calibration, bias correction: the recipe that
# passes the int8 rule in exact arithmetic (docs/int8.md, 2026-12-07); session.x64quantprecision keeps it exact on AVX2
DEFAULT_SETTINGS = OnnxQuantSettings(calibrate_method="percentile", bias_correction=True)
CALIBRATION_COUNT = 128
CALIBRATION_BATCH = 16
SESSION_CONFIG_U8S8 = {"session.x64quantprecision": "1"}
STATIC_OPS = ("Conv", "Gemm", "MatMul", "Add", "Mul", "Clip", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool",
              "Concat", "Resize", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Pad", "Split", "Sigmoid",
              "LeakyRelu", "Softmax")  # fmt: skip
# int8 kernels that carry the weights; a model with none of them after fusion gains nothing from int8.
INT8_COMPUTE_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul",
                    "QAttention", "MatMulIntegerToFloat")  # fmt: skip


class ArrayReader:
    """onnxruntime CalibrationDataReader over a preprocessed (N, ...) array, in batches."""

    def __init__(self, input_name: str, data: np.ndarray, batch: int = CALIBRATION_BATCH) -> None:
        self.input_name, self.data, self.batch = input_name, data, batch
        self._it: Iterator[dict[str, np.ndarray]] = iter(())
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        chunks = [self.data[i : i + self.batch] for i in range(0, len(self.data), self.batch)]
        self._it = iter({self.input_name: np.ascontiguousarray(c)} for c in chunks)


def settings_for(target: Target | None) -> tuple[OnnxQuantSettings, str]:
    """The target's ONNX quantization settings, or the default; and where they came from."""
    if target is not None:
        return target.onnx_quant, f"target {target.name}"
    return DEFAULT_SETTINGS, "default"


def choose_mode(model: Any, requested: str = "auto") -> tuple[str, str]:
    """'static' for convolutional models, 'dynamic' when MatMul outnumbers Conv (transformers, MLPs on tokens)."""
    counts = collections.Counter(n.op_type for n in model.graph.node)
    if requested in ("static", "dynamic"):
        return requested, "requested"
    if requested != "auto":
        raise ExportError(f"int8_mode must be 'auto', 'static' or 'dynamic', got {requested!r}")
    if counts["MatMul"] > counts["Conv"]:
        return "dynamic", f"{counts['MatMul']} MatMul vs {counts['Conv']} Conv: weights dominate, activations vary"
    return "static", f"{counts['Conv']} Conv, {counts['Gemm'] + counts['MatMul']} Gemm/MatMul: calibrated activations"


def session_config(settings: OnnxQuantSettings, mode: str) -> dict[str, str]:
    if mode == "static" and settings.activation_type == "uint8" and settings.weight_type == "int8":
        return dict(SESSION_CONFIG_U8S8)
    return {}


def pre_process(src: Path, dst: Path) -> dict[str, Any]:
    """ONNX Runtime's quantization pre-processing (shape inference, graph optimization); falls back to ``src``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        return {"pre_process": "onnxruntime quant_pre_process"}
    except Exception as exc:  # noqa: BLE001  (reported, then the unoptimized model is quantized)
        dst.write_bytes(src.read_bytes())
        return {"pre_process": f"skipped: quant_pre_process failed ({first_line(exc)})"}


def quantize_onnx(
    src: Path,
    dst: Path,
    settings: OnnxQuantSettings,
    *,
    mode: str,
    calibration: np.ndarray | None,
    keep_float: Sequence[str] = (),
) -> dict[str, Any]:
    """Quantize the (pre-processed) ``src`` into ``dst``; returns what was done, for the manifest.

    Static mode then corrects the biases for the rounding of the int8 weights on the same calibration images when
    ``settings.bias_correction`` (``exporters/onnx_bias_correction.py``).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    qtype = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.calibrate_method]  # fmt: skip
    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    try:
        if mode == "dynamic":
            quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Conv"], per_channel=False,
                             reduce_range=settings.reduce_range, weight_type=QuantType.QInt8,
                             nodes_to_exclude=list(keep_float))  # fmt: skip
        else:
            if calibration is None or not len(calibration):
                raise ExportError("static int8 quantization needs calibration images")
            # histogram calibrators (entropy, percentile) need equal-shaped batches: feed those one image at a time
            batch = CALIBRATION_BATCH if settings.calibrate_method == "minmax" else 1
            quantize_static(
                str(src), str(dst), ArrayReader(input_name, calibration, batch),
                quant_format=QuantFormat.QDQ if settings.quant_format == "QDQ" else QuantFormat.QOperator,
                op_types_to_quantize=list(STATIC_OPS), per_channel=settings.per_channel,
                reduce_range=settings.reduce_range, activation_type=qtype[settings.activation_type],
                weight_type=qtype[settings.weight_type], nodes_to_exclude=list(keep_float), calibrate_method=method,
                extra_options={"CalibPercentile": settings.calibrate_percentile},
            )  # fmt: skip
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001  the quantizer raises plain exceptions for ops it cannot handle
        raise ExportError(f"onnxruntime {mode} quantization failed: {first_line(exc)}") from exc
    done: dict[str, Any] = {"mode": mode}
    if mode == "static" and settings.float_outputs:
        done["float_outputs"] = float_outputs(dst)
    if mode == "static" and calibration is not None:
        if settings.bias_correction:
            from exporters.onnx_bias_correction import correct_qdq_biases

            done["bias_correction"] = correct_qdq_biases(dst, src, dst, calibration)
        else:
            done["bias_correction"] = "off (OnnxQuantSettings.bias_correction=False)"
    return {**done, "op_types": dict(collections.Counter(n.op_type for n in onnx.load(str(dst)).graph.node))}


def float_outputs(path: Path) -> list[str]:
    """Drop the QuantizeLinear -> DequantizeLinear pair in front of each graph output of the QDQ model at ``path``, so
    the producing op (the classifier's Gemm) hands over float values: ONNX Runtime still fuses it into an int8 QGemm
    with a float output (same speed, measured), and the logits keep the int32 sums' precision instead of 256 levels,
    whose ties decided top-1 at random on near-ties. Returns the outputs changed."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers = collections.Counter(i for n in graph.node for i in n.input)
    changed = []
    for out in graph.output:
        dq = producer.get(out.name)
        if dq is None or dq.op_type != "DequantizeLinear" or consumers[dq.input[0]] != 1:
            continue
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or consumers[q.input[0]] != 1:
            continue
        source = producer.get(q.input[0])
        if source is None:
            continue
        source.output[list(source.output).index(q.input[0])] = out.name
        graph.node.remove(dq)
        graph.node.remove(q)
        changed.append(out.name)
    if changed:
        used = {i for n in graph.node for i in n.input}
        for init in [t for t in graph.initializer if t.name not in used]:
            graph.initializer.remove(init)
        onnx.save(model, str(path))
    return changed


def run_checks(path: Path, config: dict[str, str], x: np.ndarray) -> dict[str, Any]:
    """Run the quantized model on the CPU provider at batch 1 and 2; report the op types after fusion."""
    import onnx

    from edge_infer.backends.onnxrt import make_session

    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        try:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.optimized_model_filepath = str(optimized)
            so.log_severity_level = 3
            for k, v in config.items():
                so.add_session_config_entry(k, v)
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            for b in (1, 2):
                out = sess.run(None, {sess.get_inputs()[0].name: x[:b]})[0]
                if out.shape[0] != b or not np.all(np.isfinite(out)):
                    raise ExportError(f"quantized model returns bad output at batch {b}")
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"the CPU provider cannot run the quantized model: {first_line(exc)}") from exc
        fused = collections.Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    make_session(str(path), 1, config=config)  # the exact loader the Predictor uses
    if not any(k in INT8_COMPUTE_OPS for k in fused):
        found = ", ".join(sorted(fused)) or "none"
        raise ExportError(f"no int8 operator with weights (Conv/MatMul/Gemm) after quantization; ops: {found}")
    return {"runtime_op_types": dict(fused), "batch_checked": [1, 2]}


def speed_check(fp32: Path, int8: Path, config: dict[str, str], x: np.ndarray, runs: int = 20) -> dict[str, Any]:
    """Interleaved fp32/int8 batch-1 latency on the build machine (a hint; benchmarks/int8_onnx.py is the measure),
    with the part of ``config`` that ``load()`` applies here: the exactness switch only where sums would saturate (on
    a VNNI CPU it costs half of int8's speed and changes no answer, docs/int8.md)."""
    from edge_infer.arithmetic import runtime_config_here
    from edge_infer.backends import get_backend
    from edge_infer.backends.onnxrt import make_session

    here = runtime_config_here(config, get_backend("onnxruntime"))
    a, b = make_session(str(fp32), 1), make_session(str(int8), 1, config=here)
    feed_a, feed_b = {a.get_inputs()[0].name: x[:1]}, {b.get_inputs()[0].name: x[:1]}
    for _ in range(3):
        a.run(None, feed_a), b.run(None, feed_b)
    ta: list[float] = []
    tb: list[float] = []
    for i in range(runs):
        pairs = ((a, feed_a, ta), (b, feed_b, tb))
        for sess, feed, out in pairs if i % 2 == 0 else pairs[::-1]:
            t0 = time.perf_counter()
            sess.run(None, feed)
            out.append(time.perf_counter() - t0)
    ratio = float(np.median(np.asarray(ta) / np.asarray(tb)))
    return {"fp32_ms": round(float(np.median(ta)) * 1e3, 2), "int8_ms": round(float(np.median(tb)) * 1e3, 2),
            "speedup": round(ratio, 2), "threads": 1, "runs": runs,
            "method": "interleaved pairs at export, median of per-pair ratios; noisy on a busy machine"}  # fmt: skip


def float_onnx(ctx: ExportContext) -> tuple[Path, dict[str, Any]]:
    """The fp32 ONNX file of ``ctx.model``, exported once per export call and shared by onnx-int8 and ort.

    It lives in a temporary folder that is removed when the context is garbage-collected.
    """
    cached: tuple[Path, dict[str, Any]] | None = ctx.cache.get("float_onnx")
    if cached is not None and cached[0].exists():
        return cached
    tmp = tempfile.mkdtemp(prefix="edge-infer-float-")
    weakref.finalize(ctx, shutil.rmtree, tmp, True)
    path = Path(tmp) / f"{ctx.stem}.onnx"
    info = export_onnx_file(ctx, path)
    ctx.cache["float_onnx"] = (path, info)
    return path, info


def calibration_batch(ctx: ExportContext) -> tuple[np.ndarray, dict[str, Any]]:
    from exporters.calibration import calibration_images, calibration_sources

    count = ctx.options.calibration_count or CALIBRATION_COUNT
    images, report = calibration_images(ctx.calibration, count=count)
    ctx.calibration_sources = calibration_sources(images)
    try:
        batch = np.concatenate([ctx.preprocessor(im) for im in images.values()]).astype(np.float32)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"cannot preprocess calibration images: {first_line(exc)}") from exc
    return batch, {**report, "used": int(len(batch))}


@register_exporter("onnx-int8", tolerance=Tolerance(max_abs_diff=None, min_top1_agreement=0.97))
def export_onnx_int8(ctx: ExportContext) -> ExportedFile:
    import onnx

    from exporters.verification.digits import digits_accuracy

    path = ctx.path_for(".int8.onnx")
    settings, origin = settings_for(ctx.target)
    requested_keep = list(ctx.options.int8_keep_float)
    with tempfile.TemporaryDirectory(prefix="edge-infer-int8-") as tmp:
        pre, int8 = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        fp32, float_info = float_onnx(ctx)
        info: dict[str, Any] = {"float_export": float_info}
        mode, why = choose_mode(onnx.load(str(fp32)), ctx.options.int8_mode)
        info.update(pre_process(fp32, pre))
        calib, report = calibration_batch(ctx) if mode == "static" else (None, {"used": 0, "reason": "dynamic"})
        keep = keep_float_nodes(onnx.load(str(pre)), requested_keep)
        info.update(quantize_onnx(pre, int8, settings, mode=mode, calibration=calib, keep_float=keep))
        config = session_config(settings, mode)
        x = ctx.example_input(2).numpy()
        info.update(run_checks(int8, config, x))  # only a model that runs becomes the artifact
        info["speed_check"] = speed_check(fp32, int8, config, x)
        shutil.copyfile(int8, path)
    quant = {"settings": dataclasses.asdict(settings), "settings_from": origin, "mode": mode, "mode_reason": why,
             "kept_float": keep, "calibration": report}  # fmt: skip
    info["quantization"] = quant
    labelled = digits_accuracy(settings, mode=mode, session=config, keep_float=tuple(requested_keep))
    notes = [f"calibrated on {report['used']} image(s) from {report.get('source')}"] if calib is not None else []
    if info["speed_check"]["speedup"] < 1.1:
        notes.append(f"int8 ran {info['speed_check']['speedup']}x the speed of fp32 at export on this machine; x86 "
                     "CPUs without VNNI gain little from int8 (README: 'ONNX int8 and ONNX Runtime mobile')")
    return ExportedFile(path=path, export_info=info, notes=notes,
                        runtime=RuntimeHints(onnxruntime_session_config=config or {}),
                        verification=labelled_report(labelled, info["speed_check"]))  # fmt: skip


def keep_float_nodes(model: Any, requested: Sequence[str] = (), *, strict: bool = True) -> list[str]:
    """Node names to leave in float: ``requested`` entries are node names or op types (``"Gemm"``).

    None by default: on the default model no single node kept in float improved agreement (README, 'ONNX int8').
    ``strict``: an entry that matches nothing is an error (off for the digits check, whose node names differ).
    """
    nodes = [(n.name, n.op_type) for n in model.graph.node]
    keep = [name for name, op in nodes if name in requested or op in requested]
    unknown = [r for r in requested if not any(r in (name, op) for name, op in nodes)]
    if unknown and strict:
        raise ExportError(f"int8_keep_float: no node or op type named {', '.join(map(repr, unknown))} in the model")
    return keep


def labelled_report(acc: dict[str, Any], speed: dict[str, Any]) -> dict[str, Any]:
    """Labelled-set accuracy before/after, merged into the verification report (and a note for the export table)."""
    drop = acc["fp32_accuracy"] - acc["int8_accuracy"]
    out: dict[str, Any] = {"labelled_accuracy": acc, "speed_check": speed,
                           "note": f"digits acc {acc['fp32_accuracy']:.1%} -> {acc['int8_accuracy']:.1%}; "
                                   f"{speed['speedup']:.2f}x vs fp32 (export-time check)"}  # fmt: skip
    if drop * 100 > acc["max_drop_points"]:
        out["status"] = "failed"
        out["error"] = f"labelled-set accuracy drops {drop * 100:.1f} points (max {acc['max_drop_points']})"
    return out
