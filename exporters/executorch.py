"""ExecuTorch ``.pte`` (the successor of the lite interpreter for phones): fp32 lowered to XNNPACK, and int8 through
PT2E with the XNNPACK quantizer (symmetric, per-channel weights), calibrated on the same images as the other int8
formats (``exporters.calibration``). Both are exported at batch 1 (ExecuTorch programs have static shapes); the
manifest's input shape says so and the runtime splits larger batches.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np

from edge_infer.errors import BackendUnavailableError, ExportError, first_line
from edge_infer.spec import InputSpec
from exporters.calibration import calibration_images, calibration_sources
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter


def _import_executorch() -> Any:
    try:
        import executorch.exir
    except ImportError as exc:
        raise BackendUnavailableError("exporting ExecuTorch artifacts", "executorch", "executorch") from exc
    return executorch.exir


def _lower(exported: Any) -> tuple[bytes, dict[str, Any]]:
    """An exported program -> .pte bytes, with every node XNNPACK can take delegated to it."""
    exir = _import_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    edge = exir.to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    delegated = sum(1 for n in edge.exported_program().graph.nodes
                    if n.op == "call_function" and "executorch_call_delegate" in str(n.target))  # fmt: skip
    left = sorted({str(n.target) for n in edge.exported_program().graph.nodes
                   if n.op == "call_function" and "executorch_call_delegate" not in str(n.target)
                   and "getitem" not in str(n.target)})  # fmt: skip
    program = edge.to_executorch()
    return bytes(program.buffer), {"delegate": "XnnpackBackend", "delegated_subgraphs": delegated,
                                   "ops_outside_delegate": left}  # fmt: skip


def _write(ctx: ExportContext, suffix: str, export_info: dict[str, Any], make: Any) -> ExportedFile:
    import torch

    path = ctx.path_for(suffix)
    try:
        with torch.no_grad():
            data, lowering = make()
        path.write_bytes(data)
    except (ExportError, BackendUnavailableError):
        raise
    except Exception as exc:
        raise ExportError(f"ExecuTorch export of {ctx.image_spec.name!r} failed: {first_line(exc, with_type=True)}") \
            from exc  # fmt: skip
    shape = ctx.image_spec.preprocess.input_shape(1)
    info = {"executorch": {"version": metadata.version("executorch"), "batch": 1, **lowering, **export_info}}
    return ExportedFile(path=path, export_info=info,
                        input=InputSpec(name="input", shape=tuple(shape), dtype="float32", layout="NCHW"))  # fmt: skip


@register_exporter("executorch", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_executorch(ctx: ExportContext) -> ExportedFile:
    import torch

    def make() -> tuple[bytes, dict[str, Any]]:
        return _lower(torch.export.export(ctx.model, (ctx.example_input(1),)))

    return _write(ctx, ".pte", {"precision": "fp32"}, make)


@register_exporter("executorch-int8", tolerance=Tolerance(max_abs_diff=None, min_top1_agreement=0.95))
def export_executorch_int8(ctx: ExportContext) -> ExportedFile:
    import torch

    images, cal_report = calibration_images(ctx.calibration, count=ctx.options.calibration_count or 128)
    ctx.calibration_sources = calibration_sources(images)
    batches = [ctx.preprocessor(im) for im in images.values()]

    def make() -> tuple[bytes, dict[str, Any]]:
        _import_executorch()
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        x = ctx.example_input(1)
        graph = torch.export.export(ctx.model, (x,)).module()
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(graph, quantizer)
        for b in batches:
            prepared(torch.from_numpy(np.ascontiguousarray(b)))
        converted = convert_pt2e(prepared)
        return _lower(torch.export.export(converted, (x,)))

    quant = {"precision": "int8", "quantization": {"flow": "PT2E", "quantizer": "XNNPACKQuantizer",
                                                   "config": "symmetric, per-channel weights, static activations",
                                                   "calibration": cal_report}}  # fmt: skip
    return _write(ctx, ".int8.pte", quant, make)
