"""The PyTorch eager baseline as a bench target: the artifact's source model (``EagerClassifier``), fed by the
artifact's own preprocessing, so the only difference from the artifact is the runtime. Needs the export extra."""

from __future__ import annotations

from importlib import metadata

from edge_infer.artifact import Artifact
from edge_infer.backends.eager import EagerClassifier
from edge_infer.bench.target import MeasureTarget
from edge_infer.errors import BenchError
from edge_infer.predictors import Predictor


def eager_target(artifact: str) -> MeasureTarget:
    """Measure the source model of ``artifact`` in PyTorch eager mode."""
    art = Artifact.read(artifact)
    if not art.manifest.model.name or art.manifest.preprocess is None:
        raise BenchError(f"{art.path}: manifest names no source image model, so there is no eager baseline")

    def open_(threads: int) -> Predictor:
        return EagerClassifier(art, threads=threads)

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return MeasureTarget(
        label=f"{art.manifest.name} (eager, torch {torch_version})",
        artifact=str(artifact),
        format="eager",
        backend=EagerClassifier.backend,
        open=open_,
        size_bytes=None,
        memory_args=("--eager", str(artifact)),
    )
