"""Runtime backends. Each is imported lazily, only when an artifact of its format is loaded."""

from __future__ import annotations

import importlib

from edge_infer.backends.base import Predictor
from edge_infer.errors import UnknownNameError

# backend name -> "module:Class"; the module is imported on first use.
BACKENDS: dict[str, str] = {
    "onnxruntime": "edge_infer.backends.onnxrt:OnnxRuntimePredictor",
    "torchscript": "edge_infer.backends.torchscript:TorchScriptPredictor",
    "lite": "edge_infer.backends.torchscript:LitePredictor",
    "onnxruntime:tabular-classification": "edge_infer.backends.tabular:TabularOnnxPredictor",
    "onnxruntime:tabular-regression": "edge_infer.backends.tabular:TabularOnnxPredictor",
    "sklearn": "edge_infer.backends.tabular:SklearnPredictor",
}


def register_backend(name: str, target: str) -> None:
    if name in BACKENDS:
        raise ValueError(f"backend {name!r} is already registered")
    BACKENDS[name] = target


def backend_class(name: str) -> type[Predictor]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownNameError("backend", name, BACKENDS) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


__all__ = ["BACKENDS", "Predictor", "backend_class", "register_backend"]
