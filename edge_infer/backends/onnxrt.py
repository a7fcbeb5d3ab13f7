"""ONNX Runtime backend (CPU execution provider): image classifiers and skl2onnx tabular models, without torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, first_line
from edge_infer.predictors import ImageClassifier, TabularPredictor


def make_session(
    path: str, threads: int, *, profile: bool = False, config: Mapping[str, str] | None = None
) -> Any:
    """An InferenceSession on the CPU with explicit threading (intra-op = threads, sequential execution).

    ``config``: session config entries (e.g. ``{"session.x64quantprecision": "1"}``), as recorded by the exporter in
    the manifest's runtime hints.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        from edge_infer.backends import get_backend

        raise get_backend("onnxruntime").unavailable("running ONNX artifacts") from exc
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
        raise ArtifactError(f"{path}: onnxruntime cannot load this model ({first_line(exc)})") from exc


class OnnxRuntimeClassifier(ImageClassifier):
    """Image classifier on ONNX Runtime's CPU provider."""

    backend: ClassVar[str] = "onnxruntime"
    takes_pixels: ClassVar[bool] = True
    concurrent_runs: ClassVar[bool] = True  # InferenceSession.run is thread-safe

    def _load(self) -> None:
        from edge_infer.arithmetic import runtime_config_here
        from edge_infer.backends import get_backend

        # the exactness switch only where int8 sums would saturate without it (edge_infer.arithmetic)
        config = runtime_config_here(self.manifest.runtime.onnxruntime_session_config, get_backend("onnxruntime"))
        self.session = make_session(str(self.path), self.threads, config=config)
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


class OnnxRuntimeTabular(TabularPredictor):
    """A scikit-learn model converted by skl2onnx, on ONNX Runtime's CPU provider: needs only onnxruntime + numpy."""

    backend: ClassVar[str] = "onnxruntime"

    def _load(self) -> None:
        self.session = make_session(str(self.path), self.threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        width = inp.shape[1] if len(inp.shape) == 2 else None
        if isinstance(width, int) and width != self.features.count:
            raise ArtifactError(f"{self.path}: model takes {width} features but the manifest lists "
                                f"{self.features.count}")  # fmt: skip
        outputs = [o.name for o in self.session.get_outputs()]
        out = self.manifest.output
        self._value_name = (out.label if self.is_classifier else out.value) or outputs[0]
        self._prob_name = (out.probabilities or "probabilities") if self.is_classifier else None
        missing = [n for n in (self._value_name, self._prob_name) if n is not None and n not in outputs]
        if missing:
            raise ArtifactError(f"{self.path}: model has no output {missing[0]!r} (outputs: {outputs})")

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.ascontiguousarray(x, dtype=np.float32)  # skl2onnx graphs take float32 (as scikit-learn's trees do)
        if self._prob_name is None:
            (values,) = self.session.run([self._value_name], {self.input_name: x})
            return np.asarray(values).reshape(-1), None
        values, probs = self.session.run([self._value_name, self._prob_name], {self.input_name: x})
        return np.asarray(values).reshape(-1), np.asarray(probs)

    def close(self) -> None:
        self.session = None
