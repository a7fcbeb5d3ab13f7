"""The Predictor interface every backend implements."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.closing import ClosesOnExit
from edge_infer.errors import ArtifactError, InputError
from edge_infer.images import DEFAULT_MAX_PIXELS, ColorOrder, ImageInput, load_image
from edge_infer.manifest import Manifest
from edge_infer.preprocess import Preprocessor
from edge_infer.result import ClassScore, Prediction


def default_threads() -> int:
    """Cores this process may run on (respects taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _input_name(image: Any, name: str | None) -> str | None:
    if name is not None:
        return name
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    return None


class Predictor(ClosesOnExit, ABC):
    """Loads one artifact and classifies images. Use as a context manager, or call ``close()``.

    ``predict(image)`` accepts a file path, encoded bytes, a PIL image, or a numpy frame (HxWx3 uint8).
    Numpy frames are taken as RGB unless ``color_order="bgr"`` is passed (OpenCV frames are BGR).
    """

    backend: ClassVar[str] = ""

    def __init__(self, artifact: Artifact, *, threads: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.artifact = artifact
        self.manifest: Manifest = artifact.manifest
        self.threads = threads if threads is not None else default_threads()
        if self.threads < 1:
            raise InputError(f"threads must be at least 1, got {self.threads}")
        self.max_pixels = max_pixels
        if self.manifest.preprocess is None:
            raise ArtifactError(f"{artifact.manifest_path}: manifest has no preprocess section for an image model")
        self.preprocessor = Preprocessor(self.manifest.preprocess)
        self.labels: tuple[str, ...] = self.manifest.labels
        self._outputs_logits = self.manifest.output.get("kind", "logits") == "logits"
        self._load()

    # -- backend hooks ---------------------------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> None:
        """Create the session / module."""

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: a preprocessed float32 batch in, raw scores (N, classes) out."""

    def close(self) -> None:
        """Release the session. Safe to call twice."""

    @property
    def max_batch(self) -> int | None:
        """Largest batch the model accepts in one call (None = any)."""
        shape = self.manifest.input.shape if self.manifest.input else (None,)
        return shape[0] if shape and shape[0] else None

    # -- public API ------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.manifest.model.get("name", self.artifact.path.stem))

    def preprocess(self, image: ImageInput, *, color_order: ColorOrder = "rgb", name: str | None = None) -> np.ndarray:
        rgb = load_image(image, color_order=color_order, max_pixels=self.max_pixels, name=name)
        return self.preprocessor(rgb)

    def scores(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        return softmax(raw) if self._outputs_logits else raw

    def _label(self, i: int) -> str:
        return self.labels[i] if 0 <= i < len(self.labels) else f"class_{i}"

    def _to_prediction(self, probs: np.ndarray, top_k: int, timings: dict[str, float], name: str | None) -> Prediction:
        k = max(1, min(top_k, probs.shape[-1]))
        idx = np.argpartition(-probs, k - 1)[:k]
        idx = idx[np.argsort(-probs[idx], kind="stable")]
        top = tuple(ClassScore(self._label(int(i)), int(i), float(probs[i])) for i in idx)
        return Prediction(top[0].label, top[0].class_id, top[0].score, top, timings, name)

    def predict(
        self, image: ImageInput, *, top_k: int = 5, color_order: ColorOrder = "rgb", name: str | None = None
    ) -> Prediction:
        """Classify one image; the result has label, score, top-k and timings in milliseconds."""
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        label = _input_name(image, name)
        t0 = time.perf_counter()
        x = self.preprocess(image, color_order=color_order, name=label)
        t1 = time.perf_counter()
        raw = self.run(x)
        t2 = time.perf_counter()
        probs = self.scores(raw)[0]
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3}
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return self._to_prediction(probs, top_k, timings, label)

    def predict_batch(
        self, images: Sequence[ImageInput], *, top_k: int = 5, color_order: ColorOrder = "rgb"
    ) -> list[Prediction]:
        """Classify several images in one model call (split into chunks if the model has a fixed batch)."""
        if not images:
            return []
        t0 = time.perf_counter()
        xs = [self.preprocess(im, color_order=color_order, name=_input_name(im, None)) for im in images]
        t1 = time.perf_counter()
        step = self.max_batch or len(xs)
        raws = [self.run(np.concatenate(xs[i : i + step])) for i in range(0, len(xs), step)]
        t2 = time.perf_counter()
        probs = self.scores(np.concatenate(raws))
        n = len(images)
        timings = {"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n}
        timings["total"] = (time.perf_counter() - t0) * 1e3 / n
        return [self._to_prediction(p, top_k, dict(timings), _input_name(im, None)) for p, im in zip(probs, images)]


    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.artifact.path)!r}, format={self.manifest.format!r})"

