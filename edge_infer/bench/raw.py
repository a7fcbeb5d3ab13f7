"""A raw ONNX Runtime session as a bench target: the floor our predictor is measured against, and the way benchmark
scripts time model files that have no manifest of their own (int8 recipe variants, session-option experiments).

``session_target(artifact)`` is what a plain script does: ``onnxruntime.InferenceSession`` with only the thread
count set, fed the artifact's own preprocessing. ``model`` times another ONNX file with the same input (a variant
of the artifact), ``session_config`` adds session config entries. The ``onnxruntime-session`` baseline is the
first, beside the artifact: ``edge-infer bench m.onnx --baseline onnxruntime-session``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.bench.target import MeasureTarget
from edge_infer.errors import ArtifactError, BenchError, first_line
from edge_infer.predictors import ImageClassifier, Predictor


class SessionClassifier(ImageClassifier):
    """An image classifier whose model call is ``session.run`` on a session made with defaults and
    ``intra_op_num_threads`` only (plus ``session_config`` entries): no option of ours in between."""

    backend: ClassVar[str] = "onnxruntime-session"

    def __init__(
        self, source: Artifact, *, threads: int | None = None, model: str | os.PathLike[str] | None = None,
        session_config: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.model_path = Path(model) if model is not None else source.path
        self.session_config = dict(session_config or {})
        super().__init__(source, threads=threads)

    def _load(self) -> None:
        from edge_infer.backends import get_backend

        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise get_backend("onnxruntime").unavailable("timing a raw ONNX Runtime session") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        for key, value in self.session_config.items():
            options.add_session_config_entry(key, value)
        try:
            self.session: Any = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ArtifactError(f"{self.model_path}: onnxruntime cannot load this model ({first_line(exc)})") from exc
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.session = None


def session_target(
    artifact: str | os.PathLike[str], *, label: str | None = None, model: str | os.PathLike[str] | None = None,
    session_config: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None,
) -> MeasureTarget:  # fmt: skip
    """A raw ``InferenceSession`` on ``model`` (default: the artifact's own file), fed the preprocessing of the ONNX
    artifact ``artifact``."""
    art = Artifact.read(artifact)
    if "onnxruntime" not in art.format.backends:
        raise BenchError(f"{art.path}: a {art.manifest.format} artifact does not run on ONNX Runtime, so there is "
                         "no raw session to time")  # fmt: skip
    path = Path(model) if model is not None else art.path
    if not path.is_file():
        raise BenchError(f"{path}: no such model file")

    def open_(threads: int) -> Predictor:
        return SessionClassifier(art, threads=threads, model=path, session_config=session_config)

    return MeasureTarget(
        label=label or f"{path.name} (raw InferenceSession)", artifact=str(artifact), format=art.manifest.format,
        backend=SessionClassifier.backend, open=open_, task=art.manifest.task, size_bytes=path.stat().st_size,
        extra={"model": str(path), "session_config": dict(session_config or {}), **dict(extra or {})},
    )  # fmt: skip
