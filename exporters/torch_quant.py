"""TorchScript int8 (``.int8.pt``): static post-training quantization (FX graph mode) calibrated on real images, or
dynamic int8 for Linear-heavy models. The quantized engine follows the target (x86 on laptops, qnnpack on ARM).

Verified like every format, on held-out photos and crops calibration never saw (top-1 agreement with fp32 eager).
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from edge_infer.errors import ExportError, first_line
from edge_infer.manifest import RuntimeHints
from exporters.calibration import calibration_images, calibration_sources
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter
from exporters.torchscript import embedded_facts, freeze, to_torchscript

CALIBRATION_BATCH = 16
REDUCED_RANGE_ENGINES = ("x86", "fbgemm")  # AVX2 u8*s8 pairs overflow int16 without 7-bit activations (no VNNI)
RELU6_AS_RELU_ENGINES = ("qnnpack",)  # its quantized ReLU6/clamp is wrong on channels-last input (see quant_rewrite)


def default_engine() -> str:
    return "qnnpack" if platform.machine().lower() in ("aarch64", "arm64", "armv7l") else "x86"


def choose_engine(ctx: ExportContext) -> str:
    """The target's torch quantized engine, else x86 on x86-64 and qnnpack on ARM; must exist in this torch."""
    import torch

    engine = ctx.target.torch_qengine if ctx.target is not None else default_engine()
    if engine not in torch.backends.quantized.supported_engines:
        raise ExportError(
            f"torch quantized engine {engine!r} is not in this torch build "
            f"(has: {', '.join(torch.backends.quantized.supported_engines)})"
        )
    return str(engine)


def linear_share(model: Any, x: Any) -> float:
    """Fraction of the model's multiply-accumulates in nn.Linear layers (vs convolutions), measured on ``x``."""
    import torch
    from torch import nn

    macs = {"linear": 0, "conv": 0}

    def hook(mod: Any, inp: Any, out: Any) -> None:
        if isinstance(mod, nn.Linear):
            macs["linear"] += out.numel() * mod.in_features
        else:
            macs["conv"] += out.numel() * mod.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d,
               nn.Conv2d, nn.Conv3d))]  # fmt: skip
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    total = macs["linear"] + macs["conv"]
    return macs["linear"] / total if total else 0.0


def _weight_observer(per_channel: bool) -> Any:
    import torch
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    # eps: a dead channel (all-zero weights after BN folding) must not get a scale so small that its int32 bias
    # (bias / (input_scale * weight_scale)) overflows.
    if per_channel:
        return PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, eps=1e-5)
    return MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, eps=1e-5)


def _qconfig_mapping(engine: str, relu6_convs: list[str], float_modules: list[str], per_channel: bool = True) -> Any:
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import HistogramObserver

    from exporters.quant_rewrite import ReLU6HistogramObserver

    reduce_range = engine in REDUCED_RANGE_ENGINES
    weight = _weight_observer(per_channel)
    mapping = QConfigMapping().set_global(
        QConfig(activation=HistogramObserver.with_args(reduce_range=reduce_range), weight=weight)
    )
    relu6 = QConfig(activation=ReLU6HistogramObserver.with_args(reduce_range=reduce_range), weight=weight)
    for name in relu6_convs:
        mapping.set_module_name(name, relu6)
    for name in float_modules:
        mapping.set_module_name(name, None)
    return mapping


def _backend_config(engine: str) -> Any:
    import torch
    from torch import nn
    from torch.ao.quantization.backend_config import (
        BackendPatternConfig,
        DTypeConfig,
        ObservationType,
        get_qnnpack_backend_config,
    )
    from torch.ao.quantization.backend_config.x86 import get_x86_backend_config

    config = get_qnnpack_backend_config() if engine == "qnnpack" else get_x86_backend_config()
    # Zero padding works on quantized tensors (pads with the zero point): keep it in int8, same qparams as its input.
    pad = BackendPatternConfig(nn.ZeroPad2d).set_observation_type(ObservationType.OUTPUT_SHARE_OBSERVER_WITH_INPUT)
    config.set_backend_pattern_config(
        pad.set_dtype_configs([DTypeConfig(input_dtype=torch.quint8, output_dtype=torch.quint8)])
    )
    return config


def _calibration_batches(ctx: ExportContext) -> tuple[list[np.ndarray], dict[str, Any]]:
    images, report = calibration_images(ctx.calibration, count=ctx.options.calibration_count or 128)
    ctx.calibration_sources = calibration_sources(images)
    batch = np.concatenate([ctx.preprocessor(im) for im in images.values()])
    return [batch[i : i + CALIBRATION_BATCH] for i in range(0, len(batch), CALIBRATION_BATCH)], report


def quantize_static(ctx: ExportContext, engine: str) -> tuple[Any, dict[str, Any]]:
    """FX static PTQ of ``ctx.model``: rewrite, observe on calibration images, convert. Returns (model, info)."""
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from exporters.quant_rewrite import prepare_for_quantization

    batches, cal_report = _calibration_batches(ctx)
    try:
        float_model, rewrites = prepare_for_quantization(ctx.model, relu6_as_relu=engine in RELU6_AS_RELU_ENGINES)
    except Exception as exc:
        why = first_line(exc, with_type=True)
        raise ExportError(f"torch.fx cannot trace {ctx.image_spec.name!r} for quantization: {why}") from exc
    float_modules = list(ctx.options.int8_float_modules)
    per_channel = ctx.options.int8_per_channel
    bias_report: dict[str, Any] | str = "off (int8_bias_correction=False)"
    if ctx.options.int8_bias_correction:
        from exporters.bias_correction import correct_biases, fold_batchnorm

        try:
            float_model = fold_batchnorm(float_model)
            bias_report = correct_biases(float_model, batches, _weight_observer(per_channel), skip=float_modules)
        except Exception as exc:
            why = first_line(exc, with_type=True)
            raise ExportError(f"bias correction of {ctx.image_spec.name!r} failed: {why}") from exc
    mapping = _qconfig_mapping(engine, rewrites.relu6_convs, float_modules, per_channel)
    backend = _backend_config(engine)
    torch.backends.quantized.engine = engine
    try:
        prepared = prepare_fx(float_model, mapping, (ctx.example_input(1),), backend_config=backend)
        with torch.inference_mode():
            for b in batches:
                prepared(torch.from_numpy(b))
        quantized = convert_fx(prepared, backend_config=backend)
    except Exception as exc:
        raise ExportError(f"FX quantization of {ctx.image_spec.name!r} failed: {first_line(exc, with_type=True)}") from exc
    info = {
        "mode": "static",
        "engine": engine,
        "activations": "quint8 per-tensor affine, histogram observer"
        + (", 7-bit (reduce_range)" if engine in REDUCED_RANGE_ENGINES else ""),
        "weights": f"qint8 {'per-channel' if per_channel else 'per-tensor'} symmetric",
        "float_modules": float_modules,
        "bias_correction": bias_report,
        "rewrites": rewrites.to_dict(),
        "calibration": cal_report,
    }
    return quantized, info


def quantize_dynamic(ctx: ExportContext, engine: str) -> tuple[Any, dict[str, Any]]:
    """Dynamic int8: Linear weights int8, activations quantized on the fly (no calibration)."""
    import torch
    from torch import nn

    torch.backends.quantized.engine = engine
    quantized = torch.ao.quantization.quantize_dynamic(ctx.model, {nn.Linear}, dtype=torch.qint8)
    return quantized, {"mode": "dynamic", "engine": engine, "weights": "nn.Linear qint8", "calibration": None}


@register_exporter("torchscript-int8", tolerance=Tolerance(max_abs_diff=None, min_top1_agreement=0.95))
def export_torchscript_int8(ctx: ExportContext) -> ExportedFile:
    import torch

    engine = choose_engine(ctx)
    mode: str = ctx.options.int8_mode
    share = linear_share(ctx.model, ctx.example_input(1))
    if mode == "auto":
        mode = "dynamic" if share > 0.5 else "static"
    quantized, info = (quantize_dynamic if mode == "dynamic" else quantize_static)(ctx, engine)
    info["linear_mac_share"] = round(share, 3)
    info["mode_reason"] = (
        "requested" if ctx.options.int8_mode != "auto"
        else f"{share:.0%} of multiply-accumulates are in nn.Linear ({'>' if mode == 'dynamic' else '<='} 50%)"
    )  # fmt: skip
    module, method = to_torchscript(quantized, ctx)
    frozen, applied = freeze(module)
    path = ctx.path_for(".int8.pt")
    try:
        torch.jit.save(frozen, str(path), _extra_files=embedded_facts(ctx, "torchscript-int8"))
    except Exception as exc:
        raise ExportError(f"cannot save {path}: {first_line(exc, with_type=True)}") from exc
    export_info = {"quantization": info, "torchscript": {"method": method, "optimizations": applied}}
    return ExportedFile(path=path, export_info=export_info, runtime=RuntimeHints(torch_qengine=engine))
