"""The Predictor interface over HTTP, so "device vs server" is the same code run twice.

    with RemotePredictor.connect("http://127.0.0.1:8000") as p:   # RemoteImageClassifier or RemoteTabularPredictor
        print(p.predict("photo.jpg").label)

``predict()`` takes what a local predictor of the same task takes (path, encoded bytes, PIL image, numpy frame; or
feature rows). Paths and bytes are sent as they are (the server decodes them, as a local predictor would); frames and
PIL images are encoded as PNG (lossless) or JPEG. ``timings_ms`` carries the server's ``preprocess`` and
``inference``, the server's own ``server`` time, and ``total`` = the round trip seen by the client.

The transport (``edge_infer.serve.transport.Connection``) is the standard library's ``http.client``, keep-alive, one
connection per calling thread: the client needs no package beyond edge-infer's own dependencies.
"""

from __future__ import annotations

import base64
import io
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from edge_infer.errors import InputError, RemoteError, SpecError
from edge_infer.images import ColorOrder, ImageInput, to_rgb_uint8
from edge_infer.manifest import Manifest
from edge_infer.predictors import DEFAULT_TOP_K, ImageClassifier, Predictor, TabularPredictor
from edge_infer.result import ClassScore, Prediction, TabularPrediction
from edge_infer.serve.transport import Connection
from edge_infer.tasks import get_task

__all__ = [
    "Connection", "RemoteError", "RemoteImageClassifier", "RemotePredictor", "RemoteTabularPredictor", "encode_image",
]  # fmt: skip

Send = Literal["multipart", "json", "raw"]
FrameFormat = Literal["png", "jpeg"]


def encode_image(
    image: ImageInput, color_order: ColorOrder = "rgb", frame_format: FrameFormat = "png"
) -> tuple[bytes, str]:
    """Image input -> (encoded bytes, file name). Files and bytes pass through; frames become PNG (or JPEG q90)."""
    if isinstance(image, (str, os.PathLike)):
        p = Path(image)
        try:
            return p.read_bytes(), p.name
        except OSError as exc:
            raise InputError(f"{p}: cannot read file ({exc.strerror})") from exc
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "image"
    if isinstance(image, np.ndarray):
        import cv2

        rgb = to_rgb_uint8(image, "<array>", color_order)
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if frame_format == "jpeg" else []
        ok, buf = cv2.imencode(f".{frame_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise InputError(f"<array>: cannot encode frame as {frame_format}")
        return buf.tobytes(), f"frame.{frame_format}"
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a core dependency
        Image = None  # noqa: N806
    if Image is not None and isinstance(image, Image.Image):
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue(), "image.png"
    raise InputError(f"unsupported image type {type(image).__name__} (give a path, bytes, a PIL image or a frame)")


class RemotePredictor(Predictor):
    """Base of the HTTP clients: the server's manifest (``/model``), health and threads (``/health``).

    ``connect(url)`` returns the client for the served model's task. ``on_close`` runs when the client is closed
    (the bench uses it to stop the server process it started).
    """

    backend: ClassVar[str] = "http"

    def __init__(
        self, connection: Connection, *, send: Send = "multipart", frame_format: FrameFormat = "png",
        top_k: int = DEFAULT_TOP_K, on_close: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        if send not in ("multipart", "json", "raw"):
            raise SpecError(f"send must be 'multipart', 'json' or 'raw', got {send!r}")
        if frame_format not in ("png", "jpeg"):
            raise SpecError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
        self.connection, self.url = connection, connection.url
        self.send, self.frame_format, self.top_k = send, frame_format, top_k
        self._on_close = on_close
        self._stages = threading.local()  # the last run()'s stage timings, per calling thread
        self.health: dict[str, Any] = connection.request("GET", "/health")
        manifest = Manifest.from_dict(connection.request("GET", "/model"), where=f"{self.url}/model")
        super().__init__(manifest, threads=int(self.health.get("threads") or 1))

    @classmethod
    def connect(cls, url: str, *, timeout_s: float = 60.0, **options: Any) -> RemotePredictor:
        """A client for the model served at ``url``: ``RemoteImageClassifier`` or ``RemoteTabularPredictor``."""
        connection = Connection(url, timeout_s=timeout_s)
        opened = False
        try:
            manifest = Manifest.from_dict(connection.request("GET", "/model"), where=f"{connection.url}/model")
            client = REMOTE_CLASSES[get_task(manifest.task).takes](connection, **options)
            opened = True
        finally:
            if not opened:
                connection.close()
        return client

    def _load(self) -> None:
        """The connection is open and the manifest read before the base class runs."""

    @property
    def name(self) -> str:
        return str(self.health.get("model") or self.manifest.name)

    @property
    def max_batch(self) -> int | None:
        return None

    def _post(self, batch: bool, **kwargs: Any) -> dict[str, Any]:
        return self.connection.request("POST", "/predict/batch" if batch else "/predict", **kwargs)

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, model={self.name!r}, send={self.send!r})"


def _timings(d: dict[str, Any], roundtrip_ms: float) -> dict[str, float]:
    timings = {k: float(v) for k, v in d.get("timings_ms", {}).items() if k != "total"}
    if "server_timings_ms" in d:
        timings["server"] = float(d["server_timings_ms"].get("total", 0.0))
    timings["total"] = roundtrip_ms
    return timings


class RemoteImageClassifier(RemotePredictor, ImageClassifier):
    """An image classifier served by ``edge-infer serve``."""

    takes_pixels: ClassVar[bool] = True  # the server feeds its model; this side only sends encoded images

    def _image_request(self, items: list[tuple[bytes, str]], top_k: int, batch: bool) -> dict[str, Any]:
        if self.send == "json" or (batch and self.send == "raw"):
            encoded = [base64.b64encode(data).decode("ascii") for data, _ in items]
            one = {"image": encoded[0], "top_k": top_k, "name": items[0][1]}
            return self._post(batch, json={"images": encoded, "top_k": top_k} if batch else one)
        if self.send == "raw":
            headers = {"Content-Type": "application/octet-stream"}
            return self._post(batch, content=items[0][0], headers=headers, params={"top_k": top_k})
        files = [("file", (name, data, "application/octet-stream")) for data, name in items]
        return self._post(batch, files=files, data={"top_k": str(top_k)})

    @staticmethod
    def _prediction(d: dict[str, Any], roundtrip_ms: float) -> Prediction:
        top = tuple(ClassScore(str(c["label"]), int(c["class_id"]), float(c["score"])) for c in d["top_k"])
        return Prediction(str(d["label"]), int(d["class_id"]), float(d["score"]), top, _timings(d, roundtrip_ms),
                          d.get("input"))  # fmt: skip

    def predict(
        self, image: ImageInput, *, top_k: int | None = None, name: str | None = None, color_order: ColorOrder = "rgb"
    ) -> Prediction:
        t0 = time.perf_counter()
        data, fname = encode_image(image, color_order, self.frame_format)
        d = self._image_request([(data, name or fname)], DEFAULT_TOP_K if top_k is None else top_k, batch=False)
        return self._prediction(d, (time.perf_counter() - t0) * 1e3)

    def predict_batch(
        self, images: Sequence[ImageInput], *, top_k: int | None = None, color_order: ColorOrder = "rgb"
    ) -> list[Prediction]:
        if not images:
            return []
        t0 = time.perf_counter()
        encoded = [encode_image(im, color_order, self.frame_format) for im in images]
        d = self._image_request(encoded, DEFAULT_TOP_K if top_k is None else top_k, batch=True)
        per_item = (time.perf_counter() - t0) * 1e3 / len(images)
        return [self._prediction(p, per_item) for p in d["predictions"]]

    # -- the model-only pair the bench times: preprocess() once, run() many times ---------------------------------
    def preprocess(self, image: ImageInput, *, color_order: ColorOrder = "rgb", name: str | None = None) -> np.ndarray:
        """Client-side work before a request: the encoded image (a frame becomes PNG/JPEG), as a batch of one
        (an object array holding the bytes and a file name)."""
        batch = np.empty(1, dtype=object)
        batch[0] = encode_image(image, color_order, self.frame_format)
        return batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        """One request for the batch (``/predict`` for one item, ``/predict/batch`` for several); returns scores
        (N, classes) as far as the server reports them: the ``top_k`` best classes, 0 for the others. Where the
        request's time went is then in ``stage_timings()`` (on the calling thread)."""
        n = len(batch)
        t0 = time.perf_counter()
        d = self._image_request(list(batch), self.top_k, batch=n > 1)
        preds = [d] if n == 1 else d["predictions"]
        self._stages.value = _hop(d, preds, (time.perf_counter() - t0) * 1e3, n)
        scores = np.zeros((n, max(1, len(self.labels))), dtype=np.float32)
        for i, p in enumerate(preds):
            for c in p["top_k"]:
                if c["class_id"] < scores.shape[1]:
                    scores[i, c["class_id"]] = c["score"]
        return scores

    def scores(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=np.float32)  # already probabilities, as the server reported them

    def stage_timings(self) -> dict[str, float]:
        return dict(getattr(self._stages, "value", {}))


def _hop(d: dict[str, Any], preds: list[dict[str, Any]], roundtrip_ms: float, n: int) -> dict[str, float]:
    """Per item of one answer: the hop (round trip minus the server's ``predict`` stage) and the server's own
    preprocessing (decode included) and model time, from the answer's ``server_timings_ms`` and ``timings_ms``."""
    server = d.get("server_timings_ms") or {}
    if "predict" not in server:
        return {}
    t = [p.get("timings_ms") or {} for p in preds]
    return {
        "hop": (roundtrip_ms - float(server["predict"])) / n,
        "server_preprocess": sum(float(x.get("preprocess", 0.0)) for x in t) / n,
        "server_inference": sum(float(x.get("inference", 0.0)) for x in t) / n,
    }


class RemoteTabularPredictor(RemotePredictor, TabularPredictor):
    """A tabular model served by ``edge-infer serve``; rows are validated here first, as a local model does."""

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        rows = [[float(v) for v in r] for r in x]
        d = self._post(len(rows) > 1, json={"features": rows[0] if len(rows) == 1 else rows})
        preds = [d] if len(rows) == 1 else d["predictions"]
        if not self.is_classifier:
            return np.asarray([float(p["prediction"]) for p in preds]), None
        probs = np.asarray([[p["probabilities"].get(label, 0.0) for label in self.labels] for p in preds])
        return np.asarray([self.classes[int(p["class_id"])] for p in preds]), probs

    def predict_rows(self, x: np.ndarray, *, top_k: int | None = None) -> list[TabularPrediction]:
        t0 = time.perf_counter()
        preds = super().predict_rows(x, top_k=top_k)
        per_row = (time.perf_counter() - t0) * 1e3 / max(1, len(preds))
        for p in preds:
            p.timings_ms["total"] = per_row
        return preds


REMOTE_CLASSES: dict[str, type[RemotePredictor]] = {"image": RemoteImageClassifier, "features": RemoteTabularPredictor}
