"""Building the candidate int8 recipes of ``benchmarks/int8_recipe_search.py`` from one pre-processed fp32 ONNX file.

A recipe is ONNX Runtime's static quantization through ``exporters.onnx_int8.quantize_onnx`` (settings, nodes kept
in float, number of calibration images) or NNCF's ``nncf.quantize`` on the ONNX model (NNCF is optional: a recipe
that needs it is skipped, with the reason, when it is not installed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targets import OnnxQuantSettings

SHIPPED = OnnxQuantSettings(calibrate_method="percentile", bias_correction=True)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """One way to build the int8 file. ``keep`` names what stays in float: ``"stem"`` (the first Conv),
    ``"head"`` (the last Conv, before pooling), ``"classifier"`` (every Gemm) or nothing; ``builder`` is ``onnxruntime`` or ``nncf``."""

    name: str
    settings: OnnxQuantSettings = SHIPPED
    keep: tuple[str, ...] = ()
    calibration_count: int = 128
    builder: str = "onnxruntime"
    nncf_options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def float_nodes(model: Any, keep: tuple[str, ...]) -> list[str]:
    """Node names for ``keep``'s entries (``stem``: the first Conv; ``head``: the last; ``classifier``: every Gemm)."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    names: list[str] = []
    for what in keep:
        if what == "stem":
            names += convs[:1]
        elif what == "head":
            names += convs[-1:]
        elif what == "classifier":
            names += [n.name for n in model.graph.node if n.op_type == "Gemm"]
        else:
            raise ValueError(f"unknown float island {what!r} (stem, head, classifier)")
    return names


def nncf_available() -> str | None:
    """None when NNCF can be imported, else why not."""
    try:
        import nncf  # noqa: F401
    except Exception as exc:  # noqa: BLE001  (reported: the NNCF recipes are skipped)
        return f"nncf not importable: {type(exc).__name__}: {exc}"
    return None


def build_onnxruntime(recipe: Recipe, pre: Path, out: Path, calibration: np.ndarray) -> dict[str, Any]:
    """ONNX Runtime static QDQ quantization with ``recipe.settings`` (bias correction included when set)."""
    import onnx

    from exporters.onnx_int8 import quantize_onnx

    keep = float_nodes(onnx.load(str(pre)), recipe.keep)
    done = quantize_onnx(pre, out, recipe.settings, mode="static", calibration=calibration, keep_float=keep)
    return {"kept_float": keep, "bias_correction": done.get("bias_correction")}


def build_nncf(recipe: Recipe, pre: Path, out: Path, calibration: np.ndarray) -> dict[str, Any]:
    """NNCF post-training quantization of the ONNX model (its defaults: per-channel symmetric int8 weights, its own
    range estimation and quantizer placement, fast bias correction unless ``fast_bias_correction=False``)."""
    import nncf
    import onnx

    model = onnx.load(str(pre))
    name = model.graph.input[0].name
    data = nncf.Dataset([{name: np.ascontiguousarray(calibration[i : i + 1])} for i in range(len(calibration))])
    quantized = nncf.quantize(model, data, subset_size=len(calibration), **recipe.nncf_options)
    onnx.save(quantized, str(out))
    return {"nncf_version": nncf.__version__, "nncf_options": recipe.nncf_options, "subset_size": len(calibration)}


def build(recipe: Recipe, pre: Path, out: Path, calibration: np.ndarray) -> dict[str, Any]:
    """Build ``recipe`` from the pre-processed fp32 file ``pre`` into ``out``; what was done, with build seconds."""
    t0 = time.perf_counter()
    info = (build_nncf if recipe.builder == "nncf" else build_onnxruntime)(recipe, pre, out, calibration)
    return {**info, "build_seconds": round(time.perf_counter() - t0, 1)}
