"""Framework-independent core of the HTTP shim: load the predictor once, turn request bodies into predictions.

The FastAPI app and the Flask app are thin adapters over :class:`ShimCore`: they read the body (within the size
limit), hand it to the core and write the bytes it returns. Parsing, decoding, the model and the JSON encoding of the
answer run off the server's own I/O: an async server (FastAPI) calls :meth:`ShimCore.submit` and awaits the future
(a small thread pool owned by the core, so the event loop is never blocked); a threaded server (Flask on waitress)
already has a thread per request and calls :meth:`ShimCore.run` in it, which saves two thread hand-offs per request.
Either way the number of concurrent model calls is bounded (``concurrency`` slots); requests beyond it queue, and a
request still queued when its timeout expires is dropped before it reaches the model.

Every answer says where its time went: ``server_timings_ms`` in the body (``read``, ``queue``, ``parse``,
``predict``, ``total``; the prediction's own ``timings_ms`` split ``predict`` further) and the standard
``Server-Timing`` header, which adds ``encode`` (the JSON encoding of that very body).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from collections.abc import Sequence
from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.backends import load
from edge_infer.errors import EdgeInferError, SpecError
from edge_infer.images import DEFAULT_MAX_PIXELS
from edge_infer.predictors import ImageClassifier, Predictor
from edge_infer.result import Result
from edge_infer.serve.errors import HTTPError, to_http_error
from edge_infer.serve.parsing import DEFAULT_TOP_K, Kind, PredictInput, parse_body
from edge_infer.serve.wire import encode_json, server_timing
from edge_infer.tasks import get_task
from edge_infer.threads import check_threads

MB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Limits and threading of the shim. ``concurrency`` = model calls in flight at once (the rest queue)."""

    max_body_bytes: int = 20 * MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout_s: float = 30.0
    concurrency: int = 1
    max_batch_items: int = 64
    threads: int | None = None
    trust: bool = False  # allow pickle-based artifacts (joblib), which run code when loaded
    backend: str | None = None  # one of the backends that can run the artifact (default: the first installed)

    def __post_init__(self) -> None:
        for name, value in (("max_body_bytes", self.max_body_bytes), ("max_pixels", self.max_pixels),
                            ("concurrency", self.concurrency), ("max_batch_items", self.max_batch_items)):  # fmt: skip
            if value < 1:
                raise SpecError(f"serve option {name} must be at least 1, got {value}")
        if not self.timeout_s > 0:
            raise SpecError(f"serve option timeout_s must be positive, got {self.timeout_s}")
        check_threads(self.threads, what="serve option threads")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reply:
    """An answer ready for the wire: HTTP status, the JSON body as bytes, and the server's stage timings in ms
    (``read``, ``queue``, ``parse``, ``predict``, ``encode``, ``total``) for the ``Server-Timing`` header."""

    status: int
    content: bytes
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def error(cls, exc: BaseException) -> Reply:
        err = to_http_error(exc)
        return cls(err.status, encode_json(err.body()))

    def headers(self) -> dict[str, str]:
        return {"Server-Timing": server_timing(self.timings)} if self.timings else {}


def _ms(t0: float, t1: float) -> float:
    return round((t1 - t0) * 1e3, 3)


class ShimCore:
    """One loaded predictor plus the request handling shared by every web framework."""

    def __init__(self, artifact: str | os.PathLike[str] | Artifact, config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig()
        self.artifact = artifact if isinstance(artifact, Artifact) else Artifact.read(artifact)
        self.task = self.artifact.manifest.task
        self.kind: Kind = get_task(self.task).takes
        self.predictor: Predictor = load(self.artifact, threads=self.config.threads, trust=self.config.trust,
                                         max_pixels=self.config.max_pixels, backend=self.config.backend)  # fmt: skip
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="edge-infer-predict")
        self._slots = threading.BoundedSemaphore(self.config.concurrency)  # model calls in flight, both paths

    # -- information ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.predictor.name

    def health(self) -> dict[str, Any]:
        from edge_infer import __version__

        return {
            "status": "ok",
            "model": self.name,
            "task": self.task,
            "format": self.artifact.manifest.format,
            "backend": self.predictor.backend,
            "threads": self.predictor.threads,
            "concurrency": self.config.concurrency,
            "version": __version__,
        }

    def model_info(self) -> dict[str, Any]:
        return self.artifact.manifest.to_dict()

    # -- requests ------------------------------------------------------------------------------------------------
    def check_length(self, content_length: str | None) -> None:
        """Refuse early (413) when the declared Content-Length is over the limit."""
        if content_length is None:
            return
        try:
            n = int(content_length)
        except ValueError as exc:
            raise HTTPError(400, "bad_request", f"invalid Content-Length header {content_length!r}") from exc
        if n > self.config.max_body_bytes:
            raise self.too_large(n)

    def too_large(self, n: int | None = None) -> HTTPError:
        got = f"{n:,} bytes" if n is not None else "the body"
        return HTTPError(413, "payload_too_large", f"request body of {got} is over the limit of "
                         f"{self.config.max_body_bytes:,} bytes (server option --max-body-mb)")  # fmt: skip

    def submit(
        self, content_type: str | None, body: bytes, *, batch: bool, received: float, read: float | None = None,
        top_k: str | None = None,
    ) -> Future[Reply]:  # fmt: skip
        """Queue parsing + prediction + JSON encoding on the core's pool; the future's Reply is success or a JSON
        error. ``received``: when the request reached the handler; ``read``: when its body had been read."""
        return self._pool.submit(self.handle, content_type, body, batch=batch, received=received, read=read,
                                 top_k=top_k)  # fmt: skip

    def run(
        self, content_type: str | None, body: bytes, *, batch: bool, received: float, read: float | None = None,
        top_k: str | None = None,
    ) -> Reply:  # fmt: skip
        """Parse, predict and encode in the calling thread, once a model slot is free: for a threaded server, whose
        request thread would otherwise only wait for the pool (two thread wake-ups less per request). Raises the
        503 HTTPError when no slot came free within the request timeout (the request never reaches the model) or
        when the answer is ready only after it."""
        deadline = received + self.config.timeout_s
        if not self._slots.acquire(timeout=max(deadline - time.perf_counter(), 0.0)):
            raise self.timeout_error()
        try:
            reply = self._handle(content_type, body, batch=batch, received=received, read=read, top_k=top_k)
        finally:
            self._slots.release()
        if time.perf_counter() > deadline:
            raise self.timeout_error()
        return reply

    def handle(
        self, content_type: str | None, body: bytes, *, batch: bool, received: float, read: float | None = None,
        top_k: str | None = None,
    ) -> Reply:  # fmt: skip
        """Parse, predict and encode synchronously, in a model slot (what the pool runs). Never raises: errors become
        JSON replies."""
        with self._slots:
            return self._handle(content_type, body, batch=batch, received=received, read=read, top_k=top_k)

    def _handle(
        self, content_type: str | None, body: bytes, *, batch: bool, received: float, read: float | None = None,
        top_k: str | None = None,
    ) -> Reply:  # fmt: skip
        t_start = time.perf_counter()
        read = received if read is None else read
        try:
            req = parse_body(content_type, body, kind=self.kind, batch=batch, max_items=self.config.max_batch_items,
                             top_k=top_k)  # fmt: skip
            t_parsed = time.perf_counter()
            results = self._predict(req, batch=batch)
        except Exception as exc:  # noqa: BLE001 - every failure (ours or a library's) must become a JSON reply
            return Reply.error(exc)
        t_done = time.perf_counter()
        timings = {"read": _ms(received, read), "queue": _ms(read, t_start), "parse": _ms(t_start, t_parsed),
                   "predict": _ms(t_parsed, t_done), "total": _ms(received, t_done)}  # fmt: skip
        if batch:
            answer = {"model": self.name, "predictions": results, "server_timings_ms": timings}
        else:
            answer = {**results[0], "server_timings_ms": timings}
        try:
            content = encode_json(answer)
        except Exception as exc:  # noqa: BLE001 - a value the encoder cannot take is a JSON 500, not a crash
            return Reply.error(exc)
        t_encoded = time.perf_counter()
        stages = {k: v for k, v in timings.items() if k != "total"}
        stages |= {"encode": _ms(t_done, t_encoded), "total": _ms(received, t_encoded)}
        return Reply(200, content, stages)

    def _predict(self, req: PredictInput, *, batch: bool) -> list[dict[str, Any]]:
        p = self.predictor
        if isinstance(p, ImageClassifier):
            if batch:
                return self._predict_images(p, req)
            return [p.predict(req.items[0], top_k=req.top_k, name=req.names[0]).to_dict()]
        if batch:
            return [r.to_dict() for r in p.predict_batch(list(req.items), top_k=req.top_k)]
        return [_one(p.predict(req.items[0], top_k=req.top_k)).to_dict()]

    def _predict_images(self, p: ImageClassifier, req: PredictInput) -> list[dict[str, Any]]:
        """Decode each image under its own name (so an error names the bad one), then one batched model call."""
        t0 = time.perf_counter()
        frames = [p.decode(data, name=n) for data, n in zip(req.items, req.names)]
        decode_ms = (time.perf_counter() - t0) * 1e3 / len(frames)
        out = []
        top_k = DEFAULT_TOP_K if req.top_k is None else req.top_k
        for pred, name in zip(p.predict_batch(frames, top_k=top_k), req.names):
            d = {**pred.to_dict(), "input": name}
            t = d["timings_ms"]  # decode is part of "preprocess", as in predict()
            t["preprocess"], t["total"] = round(t["preprocess"] + decode_ms, 3), round(t["total"] + decode_ms, 3)
            out.append(d)
        return out

    def timeout_error(self) -> HTTPError:
        return HTTPError(503, "timeout", f"the request did not finish within {self.config.timeout_s:g} s "
                         "(server option --timeout); the server is busy or the input is very large")  # fmt: skip

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.predictor.close()


def _one(result: Result | Sequence[Result]) -> Result:
    """The result of a one-row request (a tabular ``predict`` of one row returns one result)."""
    if isinstance(result, Result):
        return result
    raise EdgeInferError(f"expected one result, got {len(result)}")
