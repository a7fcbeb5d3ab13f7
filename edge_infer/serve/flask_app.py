"""The thin Flask variant of the shim: the same routes, parsing, limits and JSON errors, over the same core.

It exists so "FastAPI is faster than Flask" can be measured on the same model and machine instead of repeated.
Flask has no lifespan: the predictor is loaded when the app is created. No OpenAPI page (that is FastAPI's feature).
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from edge_infer.artifact import Artifact
from edge_infer.serve.core import ServeConfig, ShimCore
from edge_infer.serve.errors import HTTPError, error_body, to_http_error

CORE_KEY = "edge_infer_core"  # app.extensions[CORE_KEY] is the ShimCore (close it when the server stops)


def create_app(artifact: str | os.PathLike[str] | Artifact, config: ServeConfig | None = None) -> Flask:
    """A Flask app serving one artifact; loads the predictor now."""
    core = ShimCore(artifact, config)
    app = Flask("edge_infer.serve")
    app.config["MAX_CONTENT_LENGTH"] = core.config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # same key order as the FastAPI app
    app.extensions[CORE_KEY] = core

    @app.get("/health")
    def health() -> Any:
        return {**core.health(), "framework": "flask"}

    @app.get("/model")
    def model() -> Any:
        return core.model_info()

    @app.post("/predict")
    def predict() -> Any:
        return _answer(core, batch=False)

    @app.post("/predict/batch")
    def predict_batch() -> Any:
        return _answer(core, batch=True)

    _add_error_handlers(app, core)
    return app


def _answer(core: ShimCore, *, batch: bool) -> tuple[Response, int]:
    received = time.perf_counter()
    core.check_length(request.headers.get("Content-Length"))
    body = request.get_data(cache=False)  # werkzeug enforces MAX_CONTENT_LENGTH on chunked bodies too
    future = core.submit(request.headers.get("Content-Type"), body, batch=batch, received=received,
                         top_k=request.args.get("top_k"))  # fmt: skip
    remaining = core.config.timeout_s - (time.perf_counter() - received)
    try:
        reply = future.result(timeout=max(remaining, 0.0))
    except concurrent.futures.TimeoutError as exc:
        future.cancel()  # dropped if still queued
        raise core.timeout_error() from exc
    return jsonify(reply.body), reply.status


def _add_error_handlers(app: Flask, core: ShimCore) -> None:
    @app.errorhandler(HTTPError)
    def on_shim_error(exc: HTTPError) -> tuple[Response, int]:
        return jsonify(exc.body()), exc.status

    @app.errorhandler(RequestEntityTooLarge)
    def on_too_large(_: RequestEntityTooLarge) -> tuple[Response, int]:
        err = core.too_large()
        return jsonify(err.body()), err.status

    @app.errorhandler(HTTPException)
    def on_http_exception(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = jsonify(error_body(status, None, exc.description or exc.name))
        response.status_code = status
        allowed = dict(exc.get_headers()).get("Allow")  # 405 names the allowed methods
        if allowed:
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> tuple[Response, int]:
        err = to_http_error(exc)
        return jsonify(err.body()), err.status
