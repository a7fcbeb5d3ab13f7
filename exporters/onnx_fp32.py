"""ONNX fp32: one self-contained file, dynamic batch axis, checked by onnx.checker and run at batch 1 and 2."""

from __future__ import annotations

import os
import warnings

import numpy as np

from edge_infer.errors import ExportError, first_line
from edge_infer.spec import UINT8_NHWC
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter

OPSET = 18
MAX_PROTOBUF_BYTES = 2 * 1024**3


def export_onnx_file(ctx: ExportContext, path: os.PathLike[str] | str, *, opset: int = OPSET) -> dict[str, object]:
    """Export ``ctx.model`` to ``path`` as a single ONNX file; returns export details for the manifest."""
    import onnx
    import torch

    model = ctx.model
    x = ctx.example_input(1)
    batch = torch.export.Dim("batch", min=1, max=4096)
    arg_name = _first_arg_name(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                model,
                (x,),
                dynamo=True,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes={arg_name: {0: batch}},
                optimize=True,
                verbose=False,
                report=False,
            )
        except Exception as first:  # the dynamo exporter cannot handle every model; fall back to the tracer
            try:
                torch.onnx.export(
                    model, (x,), str(path), dynamo=False, opset_version=opset,
                    input_names=["input"], output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )  # fmt: skip
                exporter = "torchscript-tracer"
            except Exception as second:
                raise ExportError(
                    f"torch.onnx.export failed (dynamo: {first_line(first)}; tracer: {first_line(second)})"
                ) from second
        else:
            program.save(str(path), external_data=False)  # one file: weights inline, no stray .data
            exporter = "dynamo"
    stray = f"{path}.data"
    if os.path.exists(stray):
        os.remove(stray)
    m = onnx.load(str(path))
    if m.ByteSize() >= MAX_PROTOBUF_BYTES:
        raise ExportError("model is over 2 GB, too large for a single-file ONNX artifact")
    try:
        onnx.checker.check_model(m, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the exported model: {first_line(exc)}") from exc
    opset_used = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), opset)
    return {"opset": int(opset_used), "torch_onnx_exporter": exporter}


def check_dynamic_batch(path: os.PathLike[str] | str, ctx: ExportContext) -> None:
    """Run the exported file at batch 1 and 2 and compare with eager; raises ExportError if batch 2 fails."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x2 = ctx.example_input(2).numpy()
    ref = ctx.reference_outputs[:2] if len(ctx.verify_images) >= 2 else None
    for b in (1, 2):
        try:
            out = sess.run(None, {name: x2[:b]})[0]
        except Exception as exc:
            raise ExportError(f"exported ONNX model fails at batch {b}: {first_line(exc)}") from exc
        if out.shape[0] != b:
            raise ExportError(f"exported ONNX model returns batch {out.shape[0]} for an input batch of {b}")
        if ref is not None and not np.allclose(out, ref[:b], atol=1e-3, rtol=1e-3):
            raise ExportError(f"exported ONNX model disagrees with eager at batch {b}")


def _first_arg_name(model: object) -> str:
    import inspect

    params = list(inspect.signature(model.forward).parameters)  # type: ignore[attr-defined]
    return params[0] if params else "x"


@register_exporter("onnx", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_onnx(ctx: ExportContext) -> ExportedFile:
    """fp32 ONNX; with ``image_input="uint8"`` the file takes uint8 pixels and normalises them in its graph."""
    path = ctx.path_for(".onnx")
    info = export_onnx_file(ctx, path)
    check_dynamic_batch(path, ctx)
    info["dynamic_batch_checked"] = [1, 2]
    if ctx.options.image_input != "uint8":
        return ExportedFile(path=path, export_info=info)
    from exporters.pixel_input import check_pixel_batches, convert_file, pixel_input_spec

    spec = ctx.image_spec.preprocess
    info.update(convert_file(path, spec))
    check_pixel_batches(path, ctx)
    return ExportedFile(path=path, export_info=info, input=pixel_input_spec(spec), image_input=UINT8_NHWC)
