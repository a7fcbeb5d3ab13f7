"""The PyTorch eager baseline: the artifact's source model, built the way most users run it today.

The model comes from the artifact's manifest (``model.name``, via ``exporters.models.get_model_spec``) and is fed by
the artifact's own preprocessing, so the only difference from the artifact is the runtime. Needs the export extra.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends.base import softmax
from edge_infer.bench.target import MeasureTarget
from edge_infer.errors import BackendUnavailableError, BenchError
from edge_infer.images import ImageInput, load_image
from edge_infer.preprocess import Preprocessor


class EagerPredictor:
    """Predictor-like wrapper of an eval-mode ``torch.nn.Module`` (``preprocess``, ``run``, ``scores``, ``close``)."""

    backend: ClassVar[str] = "torch"

    def __init__(self, artifact: Artifact, *, threads: int) -> None:
        try:
            import torch

            from exporters.models import get_model_spec
        except ImportError as exc:
            raise BackendUnavailableError("the eager baseline", exc.name or "torch", "export") from None
        manifest = artifact.manifest
        name = manifest.model.get("name")
        if not name or manifest.preprocess is None:
            raise BenchError(f"{artifact.path}: manifest names no source model, so there is no eager baseline")
        self._torch = torch
        torch.set_num_threads(threads)
        self.threads = threads
        self.model = get_model_spec(str(name)).build().eval()
        self.preprocessor = Preprocessor(manifest.preprocess)
        self._logits = manifest.output.get("kind", "logits") == "logits"

    def preprocess(self, image: ImageInput) -> np.ndarray:
        return self.preprocessor(load_image(image))

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        if torch.get_num_threads() != self.threads:  # another eager target may have changed the global setting
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            out: np.ndarray = self.model(torch.from_numpy(batch)).numpy()
        return out

    def scores(self, raw: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(raw, dtype=np.float32)) if self._logits else np.asarray(raw)

    def close(self) -> None:
        self.model = None


def eager_target(artifact: str) -> MeasureTarget:
    """Measure the source model of ``artifact`` in PyTorch eager mode."""
    art = Artifact.read(artifact)
    name = str(art.manifest.model.get("name", art.path.stem))

    def open_(threads: int) -> Any:
        return EagerPredictor(art, threads=threads)

    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:  # noqa: BLE001 - a label detail only
        torch_version = "?"
    return MeasureTarget(
        label=f"{name} (eager, torch {torch_version})",
        artifact=str(artifact),
        format="eager",
        backend="torch",
        open=open_,
        size_bytes=None,
        memory_args=("--eager", str(artifact)),
    )


BASELINES = {"eager": eager_target}
