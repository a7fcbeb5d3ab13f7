"""edge-infer: export image classifiers for CPUs and mobile targets, run them offline, measure them honestly.

    import edge_infer as ei
    ei.export("efficientnet_lite0", formats="onnx", out="out")   # build side (needs the `export` extra)
    with ei.load("out/efficientnet_lite0.onnx") as p:            # device side (numpy + onnxruntime + OpenCV)
        print(p.predict("photo.jpg").label)

Importing this package never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge_infer.artifact import Artifact
from edge_infer.backends import load
from edge_infer.errors import (
    ArtifactError,
    BackendUnavailableError,
    BenchError,
    ClusterError,
    EdgeInferError,
    ExportError,
    InputError,
    SourceError,
    SpecError,
    TargetError,
    UnknownNameError,
    VerificationError,
)
from edge_infer.manifest import Manifest, Status
from edge_infer.predictors import ImageClassifier, Predictor, TabularPredictor
from edge_infer.result import ClassScore, Prediction, Result, TabularPrediction
from edge_infer.spec import InputSpec, ModelSpec, PreprocessSpec

if TYPE_CHECKING:
    from exporters.api import ExportOutcome

__version__ = "0.1.0"


def export(*args: Any, **kwargs: Any) -> list[ExportOutcome]:
    """Export a model to verified artifacts (see ``exporters.api.export``); needs the ``export`` extra (torch).

    With ``strict=True`` an artifact that fails verification raises ``VerificationError`` (listing every failing
    format) instead of being returned with status ``failed``.
    """
    from edge_infer.build import export as _export

    return _export(*args, **kwargs)


__all__ = [
    "Artifact",
    "ArtifactError",
    "BackendUnavailableError",
    "BenchError",
    "ClusterError",
    "ClassScore",
    "EdgeInferError",
    "ExportError",
    "ImageClassifier",
    "InputError",
    "InputSpec",
    "Manifest",
    "ModelSpec",
    "Prediction",
    "Predictor",
    "PreprocessSpec",
    "Result",
    "SourceError",
    "SpecError",
    "Status",
    "TabularPrediction",
    "TabularPredictor",
    "TargetError",
    "UnknownNameError",
    "VerificationError",
    "__version__",
    "export",
    "load",
]
