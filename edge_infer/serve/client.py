"""``RemotePredictor``: the Predictor interface over HTTP (httpx), so "device vs server" is the same code run twice.

    with RemotePredictor("http://127.0.0.1:8000") as p:
        print(p.predict("photo.jpg").label)

``predict()`` takes what a local Predictor takes (path, encoded bytes, PIL image, numpy frame). Paths and bytes are
sent as they are (the server decodes them, as a local predictor would); frames and PIL images are encoded as PNG
(lossless). ``timings_ms`` carries the server's ``preprocess`` and ``inference``, the server's own ``server`` time,
and ``total`` = the round trip seen by the client (encoding, HTTP, server, JSON decoding).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from edge_infer.closing import ClosesOnExit
from edge_infer.errors import EdgeInferError, InputError
from edge_infer.images import ColorOrder, ImageInput
from edge_infer.manifest import Manifest
from edge_infer.result import ClassScore, Prediction

Send = Literal["multipart", "json", "raw"]


class RemoteError(EdgeInferError):
    """The shim could not be reached, or answered with a server error (5xx)."""


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
            raise InputError(f"{p}: cannot read file ({exc.strerror})") from None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "image"
    if isinstance(image, np.ndarray):
        import cv2

        from edge_infer.images import to_rgb_uint8

        rgb = to_rgb_uint8(image, "<array>", color_order)
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if frame_format == "jpeg" else []
        ok, buf = cv2.imencode(f".{frame_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise InputError(f"<array>: cannot encode frame as {frame_format}")
        return buf.tobytes(), f"frame.{frame_format}"
    if hasattr(image, "save"):  # PIL image
        import io

        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue(), "image.png"
    raise InputError(f"unsupported image type {type(image).__name__} (give a path, bytes, a PIL image or a frame)")


def prediction_from_dict(d: dict[str, Any], roundtrip_ms: float) -> Any:
    """Rebuild a Prediction (TabularPrediction for tabular answers) from the shim's JSON; ``total`` becomes the
    client-side round trip."""
    if "top_k" not in d and "prediction" in d:
        from edge_infer.backends.tabular import TabularPrediction

        timings = {"server": float(d.get("server_timings_ms", {}).get("total", 0.0)), "total": roundtrip_ms}
        return TabularPrediction(d["prediction"], d.get("class_id"), d.get("probabilities"), timings)
    top = tuple(ClassScore(str(c["label"]), int(c["class_id"]), float(c["score"])) for c in d["top_k"])
    timings = {k: float(v) for k, v in d.get("timings_ms", {}).items() if k != "total"}
    if "server_timings_ms" in d:
        timings["server"] = float(d["server_timings_ms"]["total"])
    timings["total"] = roundtrip_ms
    return Prediction(str(d["label"]), int(d["class_id"]), float(d["score"]), top, timings, d.get("input"))


class RemotePredictor(ClosesOnExit):
    """A Predictor-like client of ``edge-infer serve``: ``predict``, ``predict_batch``, ``manifest``, ``close``."""

    backend: ClassVar[str] = "http"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 60.0,
        send: Send = "multipart",
        frame_format: FrameFormat = "png",
        top_k: int = 5,
    ) -> None:
        import httpx

        if send not in ("multipart", "json", "raw"):
            raise InputError(f"send must be 'multipart', 'json' or 'raw', got {send!r}")
        if frame_format not in ("png", "jpeg"):
            raise InputError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
        self.url = url.rstrip("/")
        self.send, self.frame_format, self.top_k = send, frame_format, top_k
        self._httpx = httpx
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)
        self.health: dict[str, Any] = self._get("/health")
        self.manifest = Manifest.from_dict(self._get("/model"), where=f"{self.url}/model")
        self.labels: tuple[str, ...] = self.manifest.labels
        self.threads = int(self.health.get("threads", 0))
        self.tabular = self.manifest.task.startswith("tabular")

    @property
    def name(self) -> str:
        return str(self.health.get("model", self.manifest.model.get("name", "")))

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            r = self._client.request(method, path, **kwargs)
        except self._httpx.HTTPError as exc:
            raise RemoteError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None
        try:
            body = r.json()
        except ValueError:
            body = {"detail": r.text[:200]}
        if r.status_code >= 500:
            raise RemoteError(f"{self.url}{path}: server error {r.status_code}: {body.get('detail', body)}")
        if r.status_code >= 400:
            raise InputError(f"{self.url}{path} refused the request ({r.status_code}): {body.get('detail', body)}")
        return body  # type: ignore[no-any-return]

    def _get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path)

    def _image_request(self, items: list[tuple[bytes, str]], top_k: int, batch: bool) -> dict[str, Any]:
        import base64

        path = "/predict/batch" if batch else "/predict"
        if self.send == "json" or (batch and self.send == "raw"):
            encoded = [base64.b64encode(data).decode("ascii") for data, _ in items]
            one = {"image": encoded[0], "top_k": top_k, "name": items[0][1]}
            body = {"images": encoded, "top_k": top_k} if batch else one
            return self._request("POST", path, json=body)
        if self.send == "raw":
            headers = {"Content-Type": "application/octet-stream"}
            return self._request("POST", path, content=items[0][0], headers=headers, params={"top_k": top_k})
        files = [("file", (name, data, "application/octet-stream")) for data, name in items]
        return self._request("POST", path, files=files, data={"top_k": str(top_k)})

    # -- Predictor interface -------------------------------------------------------------------------------------
    def predict(
        self, image: Any, *, top_k: int = 5, color_order: ColorOrder = "rgb", name: str | None = None
    ) -> Any:
        """Classify one image (a Prediction), or one feature row of a tabular artifact (a TabularPrediction)."""
        t0 = time.perf_counter()
        if self.tabular:
            d = self._request("POST", "/predict", json={"features": _row(image)})
        else:
            data, fname = encode_image(image, color_order, self.frame_format)
            d = self._image_request([(data, name or fname)], top_k, batch=False)
        return prediction_from_dict(d, (time.perf_counter() - t0) * 1e3)

    def predict_batch(self, images: Sequence[Any], *, top_k: int = 5, color_order: ColorOrder = "rgb") -> list[Any]:
        """Classify several inputs in one request (one batched model call on the server)."""
        if not images:
            return []
        t0 = time.perf_counter()
        if self.tabular:
            d = self._request("POST", "/predict/batch", json={"features": [_row(r) for r in images]})
        else:
            encoded = [encode_image(im, color_order, self.frame_format) for im in images]
            d = self._image_request(encoded, top_k, batch=True)
        per_item = (time.perf_counter() - t0) * 1e3 / len(images)
        return [prediction_from_dict(p, per_item) for p in d["predictions"]]

    # -- the model-only pair the bench times: preprocess() once, run() many times ---------------------------------
    @property
    def max_batch(self) -> int | None:
        return None

    def preprocess(self, image: Any, *, color_order: ColorOrder = "rgb", name: str | None = None) -> np.ndarray:
        """Client-side work before a request: the encoded image (a frame becomes PNG/JPEG), or a feature row.

        Returns a batch of one: an object array holding the bytes (image models), float64 (1, F) rows (tabular)."""
        if self.tabular:
            return np.asarray([_row(image)], dtype=np.float64)
        batch = np.empty(1, dtype=object)
        batch[0] = encode_image(image, color_order, self.frame_format)
        return batch

    def run(self, batch: np.ndarray) -> np.ndarray:
        """One request for the batch (``/predict`` for one item, ``/predict/batch`` for several); returns scores
        (N, classes) as far as the server reports them: the ``top_k`` best classes, 0 for the others."""
        n = len(batch)
        if self.tabular:
            rows = [[float(v) for v in r] for r in batch]
            body = {"features": rows[0]} if n == 1 else {"features": rows}
            d = self._request("POST", "/predict" if n == 1 else "/predict/batch", json=body)
            preds = [d] if n == 1 else d["predictions"]
            return np.asarray([list(p.get("probabilities", {}).values()) or [p["prediction"]] for p in preds])
        d = self._image_request(list(batch), self.top_k, batch=n > 1)
        preds = [d] if n == 1 else d["predictions"]
        scores = np.zeros((n, max(1, len(self.labels))), dtype=np.float32)
        for i, p in enumerate(preds):
            for c in p["top_k"]:
                if c["class_id"] < scores.shape[1]:
                    scores[i, c["class_id"]] = c["score"]
        return scores

    def close(self) -> None:
        self._client.close()


    def __repr__(self) -> str:
        return f"RemotePredictor({self.url!r}, model={self.name!r}, send={self.send!r})"


def _row(features: Any) -> list[float]:
    return [float(v) for v in np.asarray(features, dtype=np.float64).ravel()]
