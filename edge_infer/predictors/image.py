"""``ImageClassifier``: the task base of image classifiers. Decoding and preprocessing follow the manifest.

``predict(image)`` accepts a file path, encoded bytes, a PIL image, or a numpy frame (HxWx3 uint8). Numpy frames are
taken as RGB unless ``color_order="bgr"`` is passed (OpenCV frames are BGR). Subclasses implement ``_load`` and
``run`` (a preprocessed batch in, raw scores out): a float32 tensor, or, for an artifact whose manifest says
``image_input`` uint8 (backends with ``takes_pixels``), the cropped uint8 pixels. Encoded images much larger than the
model input are decoded at a reduced scale (JPEG DCT scaling), never below the preprocess ``resize``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, InputError
from edge_infer.images import ColorOrder, ImageInput, is_bgr_frame, load_image
from edge_infer.predictors.base import Predictor
from edge_infer.preprocess import Preprocessor
from edge_infer.ranking import ranked
from edge_infer.result import ClassScore, Prediction

DEFAULT_TOP_K = 5


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def input_name(image: Any, name: str | None) -> str | None:
    """What a result calls its input: the name given, else the path of a file input."""
    if name is not None:
        return name
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    return None


def check_top_k(top_k: int | None) -> int:
    k = DEFAULT_TOP_K if top_k is None else top_k
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"top_k must be a whole number of at least 1, got {top_k!r}")
    return k


class ImageClassifier(Predictor):
    """An image classifier: decode, preprocess as the manifest says, run, softmax, top-k."""

    takes: ClassVar[str] = "image"
    takes_pixels: ClassVar[bool] = False  # the backend can feed a uint8-pixel artifact (image_input uint8)

    def _setup(self) -> None:
        if self.manifest.preprocess is None:
            raise ArtifactError(f"{self.where}: manifest has no preprocess section for an image model")
        form = self.manifest.image_input
        if form is not None and form.pixels and not self.takes_pixels:
            raise ArtifactError(f"{self.where}: the model takes uint8 pixels (image_input), which the "
                                f"{self.backend or type(self).__name__} backend cannot feed")  # fmt: skip
        self.preprocessor = Preprocessor(self.manifest.preprocess, form)
        self._outputs_logits = self.manifest.output.kind == "logits"

    # -- the pieces ----------------------------------------------------------------------------------------------
    def decode(self, image: ImageInput, *, color_order: ColorOrder = "rgb", name: str | None = None) -> np.ndarray:
        """Any image input -> HxWx3 uint8 RGB (size limit, truncation checks and EXIF orientation included); a large
        JPEG is decoded at a reduced scale that keeps its shorter side at least the preprocess ``resize``."""
        spec = self.preprocessor.spec
        return load_image(image, color_order=color_order, max_pixels=self.max_pixels, name=name,
                          min_side=spec.resize)  # fmt: skip

    def preprocess(self, image: ImageInput, *, color_order: ColorOrder = "rgb", name: str | None = None) -> np.ndarray:
        if color_order == "bgr" and is_bgr_frame(image, self.max_pixels):  # a camera frame: swap after the crop
            return self.preprocessor.from_bgr(image)  # type: ignore[arg-type]
        return self.preprocessor(self.decode(image, color_order=color_order, name=name))

    def scores(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        return softmax(raw) if self._outputs_logits else raw

    def _label(self, i: int) -> str:
        return self.labels[i] if 0 <= i < len(self.labels) else f"class_{i}"

    def to_prediction(self, probs: np.ndarray, top_k: int, timings: dict[str, float], name: str | None) -> Prediction:
        """Per-class scores of one input -> its Prediction (the ``top_k`` best classes, best first)."""
        idx = ranked(probs, top_k)  # an exact tie (common in int8 logits) ranks the same on every CPU
        top = tuple(ClassScore(self._label(int(i)), int(i), float(probs[i])) for i in idx)
        return Prediction(top[0].label, top[0].class_id, top[0].score, top, timings, name)

    # -- public API ------------------------------------------------------------------------------------------
    def predict(
        self, image: ImageInput, *, top_k: int | None = None, name: str | None = None, color_order: ColorOrder = "rgb"
    ) -> Prediction:
        """Classify one image; the result has label, score, top-k (default 5) and timings in milliseconds."""
        k = check_top_k(top_k)
        label = input_name(image, name)
        t0 = time.perf_counter()
        x = self.preprocess(image, color_order=color_order, name=label)
        t1 = time.perf_counter()
        raw = self.run(x)
        t2 = time.perf_counter()
        probs = self.scores(raw)[0]
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3}
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return self.to_prediction(probs, k, timings, label)

    def predict_batch(
        self, images: Sequence[ImageInput], *, top_k: int | None = None, color_order: ColorOrder = "rgb"
    ) -> list[Prediction]:
        """Classify several images in one model call (split into chunks if the model has a fixed batch)."""
        k = check_top_k(top_k)
        if not images:
            return []
        t0 = time.perf_counter()
        xs = [self.preprocess(im, color_order=color_order, name=input_name(im, None)) for im in images]
        t1 = time.perf_counter()
        step = self.max_batch or len(xs)
        raws = [self.run(np.concatenate(xs[i : i + step])) for i in range(0, len(xs), step)]
        t2 = time.perf_counter()
        probs = self.scores(np.concatenate(raws))
        n = len(images)
        timings = {"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n}
        timings["total"] = (time.perf_counter() - t0) * 1e3 / n
        return [self.to_prediction(p, k, dict(timings), input_name(im, None)) for p, im in zip(probs, images)]
