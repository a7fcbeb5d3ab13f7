"""edge-infer: export image classifiers for CPUs and mobile targets, run them offline, measure them honestly.

    import edge_infer as ei
    ei.export("efficientnet_lite0", formats="onnx", out="out")   # build side (needs the `export` extra)
    with ei.load("out/efficientnet_lite0.onnx") as p:            # device side (numpy + onnxruntime + OpenCV)
        print(p.predict("photo.jpg").label)

Importing this package never imports torch.
"""

from __future__ import annotations

from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.backends.base import Predictor
from edge_infer.errors import (
    ArtifactError,
    BackendUnavailableError,
    BenchError,
    EdgeInferError,
    ExportError,
    InputError,
    SourceError,
    SpecError,
    TargetError,
    UnknownNameError,
    VerificationError,
)
from edge_infer.manifest import Manifest
from edge_infer.result import ClassScore, Prediction
from edge_infer.runtime import load
from edge_infer.spec import InputSpec, ModelSpec, PreprocessSpec

__version__ = "0.1.0"


def export(*args: Any, **kwargs: Any) -> Any:
    """Export a model to artifacts; see ``exporters.api.export``. Imports torch (the ``export`` extra)."""
    try:
        from exporters.api import export as _export
    except ImportError as exc:
        raise BackendUnavailableError("exporting models", exc.name or "torch", "export") from None
    return _export(*args, **kwargs)


__all__ = [
    "Artifact",
    "ArtifactError",
    "BackendUnavailableError",
    "BenchError",
    "ClassScore",
    "EdgeInferError",
    "ExportError",
    "InputError",
    "InputSpec",
    "Manifest",
    "ModelSpec",
    "Prediction",
    "Predictor",
    "PreprocessSpec",
    "SourceError",
    "SpecError",
    "TargetError",
    "UnknownNameError",
    "VerificationError",
    "__version__",
    "export",
    "load",
]
