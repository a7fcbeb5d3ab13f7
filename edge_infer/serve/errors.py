"""HTTP errors of the shim and the mapping from edge-infer's exception tree to status codes and JSON bodies."""

from __future__ import annotations

import logging
from typing import Any

from edge_infer.errors import (
    ArtifactError,
    BackendUnavailableError,
    EdgeInferError,
    InputError,
    SpecError,
)

log = logging.getLogger("edge_infer.serve")

# EdgeInferError subclass -> (status, code); the first match in order wins. Anything else is a 500.
STATUS_FOR: tuple[tuple[type[EdgeInferError], int, str], ...] = (
    (InputError, 400, "invalid_input"),
    (SpecError, 400, "invalid_request"),
    (ArtifactError, 500, "model_error"),
    (BackendUnavailableError, 500, "model_error"),
    (EdgeInferError, 500, "model_error"),
)

REASONS = {
    400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout", 411: "length_required",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error", 500: "internal_error",
    503: "timeout",
}  # fmt: skip


class HTTPError(Exception):
    """A request the shim answers with ``status`` and a JSON body ``{"error", "status", "detail"[, "errors"]}``."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.detail, self.errors)


def error_body(
    status: int, code: str | None, detail: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code or REASONS.get(status, "error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def to_http_error(exc: BaseException) -> HTTPError:
    """Map any exception to an HTTPError; unexpected ones are logged with their traceback and answered as a bare 500."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, EdgeInferError):
        for cls, status, code in STATUS_FOR:
            if isinstance(exc, cls):
                if status >= 500:
                    log.error("model error: %s", exc)
                return HTTPError(status, code, str(exc))
    log.error("unexpected error while handling a request", exc_info=exc)
    return HTTPError(500, "internal_error", f"internal server error ({type(exc).__name__}); see the server log")
