"""TorchScript fp32 (``.pt``) and lite-interpreter bytecode for mobile (``.ptl``).

Both trace the eager model (falling back to scripting when the trace does not generalise to another batch size),
freeze it (constants inlined, conv-bn folded, dropout removed), and record which graph optimizations were applied.
``optimize_for_mobile`` needs XNNPACK; on a torch build without it we apply what does not need it and say so.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import numpy as np

from edge_infer.errors import ExportError, first_line
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter

EXTRA_FILE = "edge_infer.json"  # model facts embedded in the file (``_extra_files``), beside the manifest
TRACKED_OPS = ("aten::batch_norm", "aten::dropout", "aten::feature_dropout", "aten::add_relu")


def embedded_facts(ctx: ExportContext, fmt: str) -> dict[str, str]:
    """The facts the runtime needs, embedded in the TorchScript file itself (read with ``_extra_files``)."""
    facts = {
        "format": fmt,
        "model": ctx.image_spec.name,
        "preprocess": ctx.image_spec.preprocess.to_dict(),
        "labels": list(ctx.image_spec.labels),
        "output": ctx.image_spec.output,
    }
    return {EXTRA_FILE: json.dumps(facts)}


def _generalises(scripted: Any, model: Any, ctx: ExportContext) -> bool:
    """Does the scripted/traced module give eager's answer at batch 2 (a trace may have baked in batch 1)?"""
    import torch

    x2 = ctx.example_input(2)
    try:
        with torch.inference_mode():
            got, want = scripted(x2), model(x2)
        return bool(got.shape == want.shape and torch.allclose(got, want, rtol=1e-3, atol=1e-3))
    except Exception:
        return False


def to_torchscript(model: Any, ctx: ExportContext) -> tuple[Any, str]:
    """Trace ``model`` (script it if the trace does not generalise); returns (module, "trace" | "script")."""
    import torch

    x = ctx.example_input(1)
    errors = []
    try:
        traced = torch.jit.trace(model, (x,), check_trace=False)
        if _generalises(traced, model, ctx):
            return traced, "trace"
        errors.append("trace: result differs from eager at batch size 2 (shapes baked into the trace)")
    except Exception as exc:
        errors.append(f"trace: {first_line(exc, with_type=True)}")
    try:
        scripted = torch.jit.script(model)
        if _generalises(scripted, model, ctx):
            return scripted, "script"
        errors.append("script: result differs from eager at batch size 2")
    except Exception as exc:
        errors.append(f"script: {first_line(exc, with_type=True)}")
    raise ExportError(f"cannot convert {ctx.image_spec.name!r} to TorchScript ({'; '.join(errors)})")


def op_counts(module: Any) -> Counter[str]:
    """How many of the tracked ops (batch_norm, dropout, ...) the module's forward graph still has."""
    import torch

    graph = (module.graph if hasattr(module, "graph") else module.forward.graph).copy()
    torch._C._jit_pass_inline(graph)  # submodule calls -> their ops
    counts: Counter[str] = Counter()
    for node in graph.nodes():
        if node.kind() in TRACKED_OPS:
            counts[node.kind()] += 1
    return counts


def freeze(module: Any) -> tuple[Any, dict[str, Any]]:
    """``torch.jit.freeze`` (inlines weights, folds conv-bn / conv-add / conv-mul, drops dropout) and what it did."""
    import torch

    before = op_counts(module)
    frozen = torch.jit.freeze(module.eval())
    after = op_counts(frozen)
    applied = {
        "freeze": True,
        "conv_bn_folding": f"{before['aten::batch_norm'] - after['aten::batch_norm']} of "
        f"{before['aten::batch_norm']} batch_norm folded",
        "dropout_removal": f"{before['aten::dropout'] - after['aten::dropout']} of {before['aten::dropout']} removed",
    }
    return frozen, applied


def xnnpack_available() -> bool:
    """Whether this torch build has XNNPACK (which ``optimize_for_mobile`` needs)."""
    import torch

    xnn = getattr(torch.backends, "xnnpack", None)
    if xnn is not None and hasattr(xnn, "enabled"):
        return bool(xnn.enabled)
    probe = getattr(torch._C, "_is_xnnpack_enabled", None)
    return bool(probe()) if probe is not None else False


def mobile_optimize(frozen: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """``optimize_for_mobile`` where it can run; otherwise the passes that need no XNNPACK. (module, applied, not)"""
    import torch

    not_applied: dict[str, str] = {}
    if xnnpack_available():
        from torch.utils.mobile_optimizer import optimize_for_mobile

        try:
            return optimize_for_mobile(frozen), {"optimize_for_mobile": "all CPU passes (XNNPACK)"}, not_applied
        except Exception as exc:
            not_applied["optimize_for_mobile"] = f"failed on this build ({first_line(exc, with_type=True)[:160]})"
    else:
        not_applied["optimize_for_mobile"] = (
            "this torch build has no XNNPACK: XNNPACK prepacked conv/linear, hoisting of packed params and "
            "prepack folding were not applied"
        )
    applied: dict[str, Any] = {}
    torch._C._jit_pass_remove_dropout(frozen._c)
    before = op_counts(frozen)["aten::add_relu"]
    torch._C._jit_pass_fuse_add_relu(frozen.graph)
    applied["dropout_removal_pass"] = True
    applied["add_relu_fusion"] = f"{op_counts(frozen)['aten::add_relu'] - before} add+relu fused"
    return frozen, applied, not_applied


def _check_batch(module: Any, ctx: ExportContext, what: str) -> None:
    import torch

    x2 = ctx.example_input(2)
    try:
        with torch.inference_mode():
            out = module(x2)
    except Exception as exc:
        raise ExportError(f"{what} does not run at batch size 2: {first_line(exc, with_type=True)}") from exc
    if tuple(out.shape)[0] != 2 or not np.isfinite(out.numpy()).all():
        raise ExportError(f"{what} gives an unusable result at batch size 2 (shape {tuple(out.shape)})")


def _save(path: os.PathLike[str] | str, save: Any, what: str) -> None:
    try:
        save()
    except Exception as exc:
        raise ExportError(f"cannot save {what} to {path}: {first_line(exc, with_type=True)}") from exc


@register_exporter("torchscript", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_torchscript(ctx: ExportContext) -> ExportedFile:
    import torch

    path = ctx.path_for(".pt")
    module, method = to_torchscript(ctx.model, ctx)
    frozen, applied = freeze(module)
    _check_batch(frozen, ctx, "the frozen TorchScript module")
    _save(path, lambda: torch.jit.save(frozen, str(path), _extra_files=embedded_facts(ctx, "torchscript")), "it")
    info = {"torchscript": {"method": method, "optimizations": applied, "embedded": EXTRA_FILE}}
    return ExportedFile(path=path, export_info=info)


@register_exporter("torchscript-mobile", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_torchscript_mobile(ctx: ExportContext) -> ExportedFile:
    path = ctx.path_for(".ptl")
    module, method = to_torchscript(ctx.model, ctx)
    frozen, applied = freeze(module)
    optimized, more, not_applied = mobile_optimize(frozen)
    _check_batch(optimized, ctx, "the mobile-optimized TorchScript module")
    facts = embedded_facts(ctx, "torchscript-mobile")
    _save(path, lambda: optimized._save_for_lite_interpreter(str(path), _extra_files=facts), "lite bytecode")
    _check_lite(path)
    notes = [f"not applied: optimize_for_mobile ({not_applied['optimize_for_mobile']})"] if not_applied else []
    info = {
        "torchscript": {"method": method, "embedded": EXTRA_FILE, "bytecode": "lite interpreter"},
        "mobile_optimizations": {"applied": {**applied, **more}, "not_applied": not_applied},
    }
    return ExportedFile(path=path, export_info=info, notes=notes)


def _check_lite(path: os.PathLike[str] | str) -> None:
    from torch.jit.mobile import _load_for_lite_interpreter

    try:
        _load_for_lite_interpreter(str(path))
    except Exception as exc:
        why = first_line(exc, with_type=True)
        raise ExportError(f"{path}: the lite interpreter cannot load the saved bytecode ({why})") from exc
