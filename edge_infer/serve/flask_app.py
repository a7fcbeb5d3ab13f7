"""The thin Flask variant of the shim: the same routes, parsing, limits and JSON errors, over the same core.

It exists so "FastAPI is faster than Flask" can be measured on the same model and machine instead of repeated.
Flask has no lifespan: the predictor is loaded when the app is created. It serves the FastAPI variant's OpenAPI
document (the contract both implement) at ``/openapi.json``, and the same offline Swagger UI and ReDoc pages.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from flask import Flask, Response, request, send_from_directory
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from edge_infer.artifact import Artifact
from edge_infer.serve.core import ServeConfig, ShimCore
from edge_infer.serve.docs import ASSETS_URL, assets_dir, redoc_page, swagger_page
from edge_infer.serve.errors import HTTPError, error_body, to_http_error
from edge_infer.serve.wire import JSON, encode_json

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

    _add_docs(app, core)
    _add_error_handlers(app, core)
    return app


def _add_docs(app: Flask, core: ShimCore) -> None:
    """``/openapi.json`` (the FastAPI variant's document), ``/docs`` and ``/redoc`` with their files, no CDN."""
    from edge_infer.serve.fastapi_app import TITLE, openapi_document

    spec = encode_json(openapi_document(core.artifact))
    pages = {"docs": swagger_page(TITLE), "redoc": redoc_page(TITLE)}
    assets = assets_dir()

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(spec, mimetype=JSON)

    @app.get("/docs")
    def docs() -> Response:
        return Response(pages["docs"], mimetype="text/html")

    @app.get("/redoc")
    def redoc() -> Response:
        return Response(pages["redoc"], mimetype="text/html")

    @app.get(f"{ASSETS_URL}/<path:name>")
    def docs_asset(name: str) -> Response:
        return send_from_directory(assets, name)


def log_requests(app: Flask) -> None:
    """One line per request on stderr (``127.0.0.1 "POST /predict" 200``), as uvicorn's access log."""
    import logging

    log = logging.getLogger("edge_infer.serve.access")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)

    @app.after_request
    def access(response: Response) -> Response:
        log.info('%s "%s %s" %d', request.remote_addr, request.method, request.full_path.rstrip("?"),
                 response.status_code)  # fmt: skip
        return response


def json_response(body: Any, status: int) -> Response:
    return Response(encode_json(body), status, mimetype=JSON)


def _answer(core: ShimCore, *, batch: bool) -> Response:
    """Read the body and run the prediction in this request thread (waitress gives every request its own), within
    the core's bound on model calls and the request timeout."""
    received = time.perf_counter()
    core.check_length(request.headers.get("Content-Length"))
    body = request.get_data(cache=False)  # werkzeug enforces MAX_CONTENT_LENGTH on chunked bodies too
    reply = core.run(request.headers.get("Content-Type"), body, batch=batch, received=received,
                     read=time.perf_counter(), top_k=request.args.get("top_k"))  # fmt: skip
    return Response(reply.content, reply.status, reply.headers(), mimetype=JSON)


def _add_error_handlers(app: Flask, core: ShimCore) -> None:
    @app.errorhandler(HTTPError)
    def on_shim_error(exc: HTTPError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.errorhandler(RequestEntityTooLarge)
    def on_too_large(_: RequestEntityTooLarge) -> Response:
        err = core.too_large()
        return json_response(err.body(), err.status)

    @app.errorhandler(HTTPException)
    def on_http_exception(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = json_response(error_body(status, None, exc.description or exc.name), status)
        allowed = dict(exc.get_headers()).get("Allow")  # 405 names the allowed methods
        if allowed:
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        err = to_http_error(exc)
        return json_response(err.body(), err.status)
