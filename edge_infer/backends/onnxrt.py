"""ONNX Runtime backend (CPU execution provider). Runs .onnx and .ort artifacts without torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from edge_infer.backends.base import Predictor
from edge_infer.errors import ArtifactError, BackendUnavailableError, first_line


def make_session(
    path: str, threads: int, *, profile: bool = False, config: Mapping[str, str] | None = None
) -> Any:
    """An InferenceSession on the CPU with explicit threading (intra-op = threads, sequential execution).

    ``config``: session config entries (e.g. ``{"session.x64quantprecision": "1"}``), as recorded by the exporter in
    the manifest's ``export.onnxruntime_session_config``.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailableError("running ONNX artifacts", "onnxruntime", "runtime") from None
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
    for key, value in (config or {}).items():
        so.add_session_config_entry(str(key), str(value))
    try:
        return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ArtifactError(f"{path}: onnxruntime cannot load this model ({first_line(exc)})") from None


class OnnxRuntimePredictor(Predictor):
    """Image classifier on ONNX Runtime's CPU provider."""

    backend: ClassVar[str] = "onnxruntime"

    def _load(self) -> None:
        config = self.manifest.export.get("onnxruntime_session_config") or {}
        self.session = make_session(str(self.artifact.path), self.threads, config=config)
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self._fixed_batch = inputs[0].shape[0] if isinstance(inputs[0].shape[0], int) else None

    @property
    def max_batch(self) -> int | None:
        return self._fixed_batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.session = None
