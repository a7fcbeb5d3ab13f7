"""LiteRT ``.tflite`` (the runtime of the Raspberry Pi and Android examples), converted with ``litert-torch``: fp32,
and int8 through PT2E with litert-torch's quantizer (symmetric, per-channel weights, static activations), calibrated
on the same images as the other int8 formats (``exporters.calibration``).

Both take channels-last input (NHWC, what LiteRT code feeds; the model is wrapped with
``litert_torch.to_channel_last_io``, so the converted graph starts with no transpose) at batch 1 (static shapes); the
manifest's input and preprocessing say so. The int8 file takes and returns int8 tensors; their scale and zero point
are in the file (and recorded in the manifest), and the runtime converts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import BackendUnavailableError, ExportError, first_line
from edge_infer.spec import InputSpec
from exporters.calibration import calibration_images, calibration_sources
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter

EXTRA = "litert-export"


def _import_litert_torch() -> Any:
    try:
        import litert_torch
    except ImportError as exc:
        raise BackendUnavailableError("exporting LiteRT (.tflite) artifacts", "litert_torch", EXTRA) from exc
    return litert_torch


@contextlib.contextmanager
def _quiet(litert_torch: Any) -> Iterator[None]:
    """litert-torch prints a progress tree on stdout (where ``export --json`` writes): silence it while converting."""
    console = litert_torch.progress.console
    before = console.quiet
    console.quiet = True
    try:
        yield
    finally:
        console.quiet = before


def _channels_last(ctx: ExportContext) -> tuple[Any, Any]:
    """The model wrapped to take NHWC (unless it already does), and an NHWC example input of batch 1."""
    x = ctx.example_input(1)
    if ctx.image_spec.preprocess.layout == "NHWC":
        return ctx.model, x
    wrapped = _import_litert_torch().to_channel_last_io(ctx.model, args=[0]).eval()
    return wrapped, x.permute(0, 2, 3, 1).contiguous()


def _nhwc(batch: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(batch if layout == "NHWC" else batch.transpose(0, 2, 3, 1))


def _io(path: Path) -> dict[str, Any]:
    """The converted file's input and output tensors as the LiteRT interpreter reads them (dtype, shape, scale,
    zero point) and the operators in it."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ops: dict[str, int] = {}
    for op in it._get_ops_details():
        ops[op["op_name"]] = ops.get(op["op_name"], 0) + 1

    def tensor(d: dict[str, Any]) -> dict[str, Any]:
        scale, zero_point = d["quantization"]
        q = {"scale": float(scale), "zero_point": int(zero_point)} if scale else {}
        return {"name": d["name"], "shape": [int(v) for v in d["shape"]], "dtype": np.dtype(d["dtype"]).name, **q}

    [inp], [out] = it.get_input_details(), it.get_output_details()
    return {"input": tensor(inp), "output": tensor(out), "ops": dict(sorted(ops.items()))}


def _write(ctx: ExportContext, suffix: str, export_info: dict[str, Any], convert: Callable[[], Any]) -> ExportedFile:
    import torch

    litert_torch = _import_litert_torch()
    path = ctx.path_for(suffix)
    try:
        with torch.no_grad(), _quiet(litert_torch):
            convert().export(str(path))
        io = _io(path)
    except (ExportError, BackendUnavailableError):
        raise
    except Exception as exc:
        raise ExportError(f"LiteRT conversion of {ctx.image_spec.name!r} failed: {first_line(exc, with_type=True)}") \
            from exc  # fmt: skip
    info = {"litert": {"converter": "litert-torch", "version": metadata.version("litert-torch"), "batch": 1,
                       "input_layout": "NHWC", **export_info, **io}}  # fmt: skip
    shape = tuple(io["input"]["shape"])
    return ExportedFile(path=path, export_info=info,
                        input=InputSpec(name=io["input"]["name"], shape=shape, dtype=io["input"]["dtype"],
                                        layout="NHWC"))  # fmt: skip


@register_exporter("tflite", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_tflite(ctx: ExportContext) -> ExportedFile:
    def convert() -> Any:
        model, x = _channels_last(ctx)
        return _import_litert_torch().convert(model, (x,))

    return _write(ctx, ".tflite", {"precision": "fp32"}, convert)


@register_exporter("tflite-int8", tolerance=Tolerance(max_abs_diff=None, min_top1_agreement=0.95))
def export_tflite_int8(ctx: ExportContext) -> ExportedFile:
    import torch

    images, cal_report = calibration_images(ctx.calibration, count=ctx.options.calibration_count or 128)
    ctx.calibration_sources = calibration_sources(images)
    batches = [_nhwc(ctx.preprocessor(im), ctx.image_spec.preprocess.layout) for im in images.values()]

    def convert() -> Any:
        litert_torch = _import_litert_torch()
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        model, x = _channels_last(ctx)
        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
        for b in batches:
            prepared(torch.from_numpy(b))
        converted = move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=False))
        torch.nn.Module.train(converted, False)  # what litert-torch checks; exported modules refuse .eval()
        return litert_torch.convert(converted, (x,), quant_config=QuantConfig(pt2e_quantizer=quantizer))

    quant = {"precision": "int8", "quantization": {"flow": "PT2E", "quantizer": "litert_torch PT2EQuantizer",
                                                   "config": "symmetric, per-channel weights, static activations "
                                                             "(histogram observer)",
                                                   "calibration": cal_report}}  # fmt: skip
    return _write(ctx, ".int8.tflite", quant, convert)
