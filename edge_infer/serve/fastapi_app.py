"""The FastAPI app of the HTTP shim: ``create_app(artifact)``; the predictor is loaded once, at start-up (lifespan).

Routes: ``GET /health``, ``GET /model``, ``POST /predict``, ``POST /predict/batch``; the OpenAPI document at
``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, both from files shipped in the ``fastapi-offline``
package (no CDN: the pages work on a machine with no network). Every error is a JSON body ``{"error", "status",
"detail"}``, never an HTML page or a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge_infer.artifact import Artifact
from edge_infer.serve.core import ServeConfig, ShimCore
from edge_infer.serve.errors import HTTPError, error_body, to_http_error
from edge_infer.serve.parsing import JSON_MODELS, Kind
from edge_infer.serve.wire import JSON, encode_json
from edge_infer.tasks import get_task

TITLE = "edge-infer shim"
ENV_VAR = "EDGE_INFER_SERVE"  # JSON {"artifact": ..., "config": {...}} for app_from_env (uvicorn --workers N)

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["error", "status", "detail"],
}  # fmt: skip
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": why, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for code, why in {
        400: "the input cannot be used (not an image, truncated, too many pixels, bad base64)",
        413: "request body over the size limit, or too many items",
        415: "unsupported Content-Type",
        422: "JSON body with wrong fields or types, NaN features",
        503: "the request did not finish within the server's timeout",
    }.items()
}


def _request_body_doc(kind: Kind, batch: bool) -> dict[str, Any]:
    """OpenAPI requestBody for /predict and /predict/batch: the media types the core accepts for this artifact."""
    json_schema = JSON_MODELS[(kind, batch)].model_json_schema()
    content: dict[str, Any] = {"application/json": {"schema": json_schema}}
    if kind == "image":
        file_schema = {"type": "string", "format": "binary"}
        files = {"type": "array", "items": file_schema} if batch else file_schema
        content["multipart/form-data"] = {
            "schema": {
                "type": "object",
                "properties": {"file": files, "top_k": {"type": "integer", "minimum": 1, "maximum": 1000}},
                "required": ["file"],
            }
        }
        if not batch:
            content["image/jpeg"] = {"schema": file_schema}
            content["image/png"] = {"schema": file_schema}
            content["application/octet-stream"] = {"schema": file_schema}
    top_k = {"name": "top_k", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
             "maximum": 1000}, "description": "classes to return (raw / multipart bodies)"}  # fmt: skip
    return {"requestBody": {"required": True, "content": content}, "parameters": [top_k]}


def create_app(
    artifact: str | os.PathLike[str] | Artifact | ShimCore, config: ServeConfig | None = None
) -> FastAPI:
    """A FastAPI app serving one artifact. The model is loaded when the app starts (lifespan), not here;
    pass a ready ``ShimCore`` instead to load it beforehand (``edge-infer serve`` does, to fail fast and clean).
    The app closes the core when it stops."""
    loaded = artifact if isinstance(artifact, ShimCore) else None
    if isinstance(artifact, ShimCore):
        config, art = artifact.config, artifact.artifact
    else:
        config = config or ServeConfig()
        art = artifact if isinstance(artifact, Artifact) else Artifact.read(artifact)
    kind: Kind = get_task(art.manifest.task).takes
    state: dict[str, ShimCore] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["core"] = loaded if loaded is not None else await asyncio.to_thread(ShimCore, art, config)
        try:
            yield
        finally:
            state.pop("core").close()

    app = FastAPIOffline(  # FastAPI with /docs and /redoc served from the package's own files
        title=TITLE,
        version=_version(),
        description=f"Serves `{art.path.name}` ({art.manifest.format}, {art.manifest.task}) on the local machine.",
        lifespan=lifespan,
    )
    _add_error_handlers(app)

    @app.get("/health", summary="liveness and what is being served")
    async def health() -> dict[str, Any]:
        return {**state["core"].health(), "framework": "fastapi"}

    @app.get("/model", summary="the artifact's manifest")
    async def model() -> dict[str, Any]:
        return state["core"].model_info()

    @app.post("/predict", summary="classify one input", responses=ERROR_RESPONSES,
              openapi_extra=_request_body_doc(kind, batch=False))  # fmt: skip
    async def predict(request: Request) -> Response:
        return await _answer(state["core"], request, batch=False)

    @app.post("/predict/batch", summary="classify several inputs in one model call", responses=ERROR_RESPONSES,
              openapi_extra=_request_body_doc(kind, batch=True))  # fmt: skip
    async def predict_batch(request: Request) -> Response:
        return await _answer(state["core"], request, batch=True)

    return app


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode_json(body), status, headers, media_type=JSON)


async def _answer(core: ShimCore, request: Request, *, batch: bool) -> Response:
    received = time.perf_counter()
    try:
        reply = await asyncio.wait_for(_handle(core, request, batch, received), timeout=core.config.timeout_s)
    except asyncio.TimeoutError as exc:
        raise core.timeout_error() from exc
    return Response(reply.content, reply.status, reply.headers(), media_type=JSON)


async def _read_body(core: ShimCore, request: Request) -> bytes:
    """The request body, refused (413) as soon as it is over the limit. One chunk (the usual case for an image that
    arrives in one read) is passed on as it is; several are joined once."""
    core.check_length(request.headers.get("content-length"))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > core.config.max_body_bytes:
            raise core.too_large()
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _handle(core: ShimCore, request: Request, batch: bool, received: float) -> Any:
    body = await _read_body(core, request)
    future = core.submit(request.headers.get("content-type"), body, batch=batch, received=received,
                         read=time.perf_counter(), top_k=request.query_params.get("top_k"))  # fmt: skip
    return await asyncio.wrap_future(future)  # cancelled (dropped from the queue) if the timeout expires first


def _add_error_handlers(app: FastAPI) -> None:
    async def on_shim_error(_: Request, exc: Exception) -> Response:
        err = to_http_error(exc)
        return json_response(err.body(), err.status)

    async def on_http_exception(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return json_response(error_body(exc.status_code, None, detail), exc.status_code, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # fmt: skip
        return json_response(error_body(422, "validation_error", "request does not match the schema", errors), 422)

    app.add_exception_handler(HTTPError, on_shim_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_shim_error)  # 500 as JSON; the traceback goes to the log only


def _version() -> str:
    from edge_infer import __version__

    return __version__


def openapi_document(artifact: str | os.PathLike[str] | Artifact) -> dict[str, Any]:
    """The shim's OpenAPI document for ``artifact`` (no model is loaded): what ``/openapi.json`` answers, on the
    Flask variant too, since both implement the same routes."""
    return create_app(artifact).openapi()


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (several workers): artifact and config come from ``$EDGE_INFER_SERVE``.
    Each worker is a server process: OpenCV runs without worker threads of its own there, as in ``server.serve``."""
    from edge_infer.threads import set_opencv_threads

    set_opencv_threads(1)
    spec = json.loads(os.environ[ENV_VAR])
    return create_app(spec["artifact"], ServeConfig(**spec.get("config", {})))
