"""OpenVINO backend: runs ``onnx`` and ``onnx-int8`` artifacts directly (no conversion step), on the CPU plugin.

The compiled model is configured for faithful, single-stream latency: ``PERFORMANCE_HINT=LATENCY``, an explicit
``INFERENCE_NUM_THREADS`` and ``INFERENCE_PRECISION_HINT=f32`` (OpenVINO would otherwise pick bf16 on CPUs that have
it, and the results would no longer be the ones verified at export). Compiled models are cached on disk
(``CACHE_DIR``: ``cache_folder("openvino")`` of ``edge_infer.cache``, i.e. ``$EDGE_INFER_CACHE_DIR/openvino``, default
``~/.cache/edge-infer/openvino``), keyed by OpenVINO on
the model file's contents and the configuration, so a second load of the same artifact skips compilation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge_infer.cache import CACHE_ENV, cache_folder
from edge_infer.errors import ArtifactError, first_line
from edge_infer.predictors import ImageClassifier

__all__ = ["CACHE_ENV", "OpenVinoClassifier", "cache_dir", "compile_config", "import_openvino"]


def cache_dir() -> Path:
    """Where compiled OpenVINO models are cached: ``$EDGE_INFER_CACHE_DIR/openvino`` or
    ``$XDG_CACHE_HOME/edge-infer/openvino`` (default ``~/.cache/edge-infer/openvino``)."""
    return cache_folder("openvino")


def compile_config(threads: int, cache: Path | None) -> dict[str, str]:
    """The CPU plugin configuration every OpenVINO artifact is compiled with (strings, as OpenVINO accepts them)."""
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if cache is not None:
        config["CACHE_DIR"] = str(cache)
    return config


def import_openvino() -> Any:
    """``openvino``, or a BackendUnavailableError naming the extra that installs it."""
    try:
        import openvino
    except ImportError as exc:
        from edge_infer.backends import get_backend

        raise get_backend("openvino").unavailable("running ONNX artifacts on OpenVINO") from exc
    return openvino


class OpenVinoClassifier(ImageClassifier):
    """Image classifier on OpenVINO's CPU plugin, from the artifact's ``.onnx`` file.

    ``loaded_from_cache`` says whether this load reused a compiled model from the cache (see ``cache_dir``).
    """

    backend: ClassVar[str] = "openvino"
    takes_pixels: ClassVar[bool] = True
    use_cache: ClassVar[bool] = True

    def _load(self) -> None:
        ov = import_openvino()
        cache = cache_dir() if self.use_cache else None
        if cache is not None:
            try:
                cache.mkdir(parents=True, exist_ok=True)
            except OSError:
                cache = None  # a read-only home: compile every time rather than fail
        core = ov.Core()
        try:
            self.compiled = core.compile_model(str(self.path), "CPU", compile_config(self.threads, cache))
        except Exception as exc:  # OpenVINO raises RuntimeError / its own types for unreadable or unsupported models
            raise ArtifactError(f"{self.path}: OpenVINO cannot load this model ({first_line(exc)})") from exc
        self.request = self.compiled.create_infer_request()
        form = self.manifest.image_input
        self._dtype = np.uint8 if form is not None and form.pixels else np.float32
        shape = self.compiled.input(0).get_partial_shape()
        self._fixed_batch = shape[0].get_length() if shape.rank.is_static and shape[0].is_static else None
        try:
            self.loaded_from_cache = bool(self.compiled.get_property("LOADED_FROM_CACHE"))
        except Exception:  # older OpenVINO builds do not report it
            self.loaded_from_cache = False

    @property
    def max_batch(self) -> int | None:
        return self._fixed_batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=self._dtype)
        out = self.request.infer({0: x}, share_inputs=True)
        return np.array(out[self.compiled.output(0)], dtype=np.float32)  # copy: the request reuses its buffer

    def close(self) -> None:
        self.request = None
        self.compiled = None
