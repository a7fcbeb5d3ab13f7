"""Decode request bodies into model inputs: multipart ``file``, JSON base64 / data URL, raw image bytes, JSON features.

Framework independent: both the FastAPI and the Flask app hand the raw body and its Content-Type here, so the two
variants accept exactly the same requests and fail with exactly the same errors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pybase64
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from edge_infer.serve.errors import HTTPError

IMAGE_FIELDS = ("file", "files", "image", "images")  # multipart field names taken as images ("file" is the seed's)
RAW_TYPES = ("application/octet-stream",)  # plus every image/* type
DEFAULT_TOP_K = 5
MAX_TOP_K = 1000

FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]
TopK = Annotated[int, Field(ge=1, le=MAX_TOP_K, strict=True)]


class ImageBody(BaseModel):
    """One image as base64 (or a ``data:image/...;base64,`` URL)."""

    model_config = ConfigDict(extra="forbid")
    image: StrictStr = Field(min_length=1, description="base64-encoded image file, or a data URL")
    top_k: TopK = DEFAULT_TOP_K
    name: StrictStr | None = Field(None, description="echoed back as `input`")


class ImageBatchBody(BaseModel):
    """Several images as base64 strings or data URLs."""

    model_config = ConfigDict(extra="forbid")
    images: list[Annotated[StrictStr, Field(min_length=1)]] = Field(min_length=1)
    top_k: TopK = DEFAULT_TOP_K


Row = list[FiniteFloat] | dict[str, FiniteFloat]


class FeaturesBody(BaseModel):
    """One row for a tabular model: numbers in the manifest's feature order, or ``{feature name: number}``."""

    model_config = ConfigDict(extra="forbid")
    features: Row = Field(description="numbers in feature order, or an object of feature name -> number")
    top_k: TopK | None = Field(None, description="keep the k most probable classes (default: all)")


class FeaturesBatchBody(BaseModel):
    """Several rows for a tabular model."""

    model_config = ConfigDict(extra="forbid")
    features: list[Row] = Field(min_length=1)
    top_k: TopK | None = None


Kind = Literal["image", "features"]
# (kind, batch) -> the JSON body model
JSON_MODELS: dict[tuple[Kind, bool], type[BaseModel]] = {
    ("image", False): ImageBody,
    ("image", True): ImageBatchBody,
    ("features", False): FeaturesBody,
    ("features", True): FeaturesBatchBody,
}


@dataclass(frozen=True)
class PredictInput:
    """What a request asks for: images (encoded bytes) or feature rows, their names, and top-k."""

    kind: Kind
    items: tuple[Any, ...]
    names: tuple[str | None, ...]
    top_k: int | None  # None: every class (tabular default)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(
    content_type: str | None, body: bytes, *, kind: Kind, batch: bool, max_items: int, top_k: str | None = None
) -> PredictInput:
    """Turn a request body into a PredictInput, or raise HTTPError (400 / 415 / 422).

    ``top_k`` is the query parameter ``?top_k=``, for bodies that cannot carry it (raw bytes, multipart).
    """
    mtype = media_type(content_type)
    query_top_k = DEFAULT_TOP_K if top_k is None else _form_int(top_k.encode(), "top_k", 1, MAX_TOP_K)
    if mtype == "application/json" or mtype.endswith("+json"):
        parsed = _parse_json(body, kind=kind, batch=batch)
    elif kind == "features":
        got = mtype or "no Content-Type"
        raise HTTPError(415, "unsupported_media_type",
                        f'this is a tabular model: send application/json {{"features": [...]}}, not {got}')  # fmt: skip
    elif mtype == "multipart/form-data":
        parsed = _parse_multipart(content_type or "", body, batch=batch, top_k=query_top_k)
    elif mtype in RAW_TYPES or mtype.startswith("image/") or not mtype:
        if batch:
            raise HTTPError(415, "unsupported_media_type", "/predict/batch takes multipart/form-data "
                            '(several `file` parts) or JSON {"images": [...]}')  # fmt: skip
        parsed = PredictInput("image", (_nonempty(body, "request body"),), ("<request body>",), query_top_k)
    else:
        raise HTTPError(
            415, "unsupported_media_type",
            f"unsupported Content-Type {mtype!r}: send multipart/form-data with the image in the field `file`, "
            "application/json {\"image\": \"<base64>\"}, or the raw image bytes as image/jpeg, image/png, ... "
            "(curl --data-binary needs -H 'Content-Type: image/jpeg')",
        )  # fmt: skip
    if len(parsed.items) > max_items:
        raise HTTPError(413, "too_many_items", f"{len(parsed.items)} items in one request; the limit is {max_items}")
    return parsed


def _nonempty(data: bytes, what: str) -> bytes:
    if not data:
        raise HTTPError(400, "invalid_input", f"{what} is empty: no image bytes were sent")
    return data


def _reject_constant(token: str) -> float:
    raise HTTPError(422, "validation_error", f"JSON contains {token}, which is not a number (features must be finite)")


def _parse_json(body: bytes, *, kind: Kind, batch: bool) -> PredictInput:
    model = JSON_MODELS[(kind, batch)]
    try:  # a well-formed request: parsed and validated in one pass by pydantic-core, straight from the bytes
        req = model.model_validate_json(body)
    except ValueError:  # anything else takes the careful path below, which names what is wrong
        req = _validate_json(body, kind=kind, model=model)
    if isinstance(req, FeaturesBody):
        return PredictInput("features", (req.features,), (None,), req.top_k)
    if isinstance(req, FeaturesBatchBody):
        return PredictInput("features", tuple(req.features), (None,) * len(req.features), req.top_k)
    if isinstance(req, ImageBody):
        return PredictInput("image", (decode_base64(req.image, "image"),), (req.name or "<image>",), req.top_k)
    assert isinstance(req, ImageBatchBody)
    images = tuple(decode_base64(s, f"images.{i}") for i, s in enumerate(req.images))
    return PredictInput("image", images, tuple(f"<images.{i}>" for i in range(len(images))), req.top_k)


def _validate_json(body: bytes, *, kind: Kind, model: type[BaseModel]) -> BaseModel:
    """Parse and validate a JSON body that the fast path refused, raising the HTTPError that says why."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPError(400, "invalid_json", f"request body is not valid JSON ({exc})") from exc
    if isinstance(data, dict) and kind == "image" and "features" in data:
        raise HTTPError(422, "validation_error", "this artifact is an image model: send \"image\", not \"features\"")
    if isinstance(data, dict) and kind == "features" and ("image" in data or "images" in data):
        raise HTTPError(422, "validation_error", "this artifact is a tabular model: send \"features\", not images")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise HTTPError(422, "validation_error", f"{where}: {first['msg']}", errors) from exc


def decode_base64(text: str, where: str) -> bytes:
    """Decode a base64 string or a ``data:<type>;base64,<data>`` URL (whitespace and missing padding tolerated)."""
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise HTTPError(400, "invalid_input", f"{where}: data URL must look like data:image/jpeg;base64,<data>")
    try:  # canonical base64 (what every encoder writes): validated and decoded by pybase64's SIMD code, about 80x
        return _nonempty(pybase64.b64decode(text, validate=True), where)  # CPython's binascii (docs/serve.md)
    except (binascii.Error, ValueError):
        pass  # whitespace, missing padding or not base64 at all: the tolerant path says which
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPError(400, "invalid_input", f"{where}: not valid base64") from exc
    return _nonempty(data, where)


def _parse_multipart(content_type: str, body: bytes, *, batch: bool, top_k: int) -> PredictInput:
    parts = multipart_parts(content_type, body)
    images = [(p.filename or f"<{p.name}>", p.data) for p in parts if p.name in IMAGE_FIELDS]
    if not images:
        found = ", ".join(sorted({repr(p.name) for p in parts})) or "none"
        detail = f"multipart body has no image in the field `file` (fields found: {found})"
        raise HTTPError(400, "invalid_input", detail)
    if not batch and len(images) > 1:
        raise HTTPError(400, "invalid_input", f"/predict takes one image, got {len(images)}; use /predict/batch")
    for p in parts:
        if p.name == "top_k":
            top_k = _form_int(p.data, "top_k", 1, MAX_TOP_K)
    for name, data in images:
        _nonempty(data, f"uploaded file {name}")
    return PredictInput("image", tuple(d for _, d in images), tuple(n for n, _ in images), top_k)


def _form_int(raw: bytes, field: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPError(422, "validation_error", f"{field}: must be an integer, got {raw[:40]!r}") from exc
    if not lo <= value <= hi:
        raise HTTPError(422, "validation_error", f"{field}: must be between {lo} and {hi}, got {value}")
    return value


@dataclass
class Part:
    name: str | None = None
    filename: str | None = None
    data: bytes = b""


def multipart_parts(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/form-data body into parts (python-multipart's streaming parser, fed in one go). A part's
    data is copied out of the body once (one slice), not piece by piece and joined."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPError(400, "invalid_multipart", "multipart/form-data Content-Type has no boundary")
    parts: list[Part] = []
    pieces = _Pieces(body)
    header: dict[str, bytes] = {"field": b"", "value": b""}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            _, opts = parse_options_header(header["value"])
            parts[-1].name = _text(opts.get(b"name"))
            parts[-1].filename = _text(opts.get(b"filename"))
        header["field"] = header["value"] = b""

    def on_part_begin() -> None:
        parts.append(Part())
        pieces.clear()

    callbacks: dict[str, Callable[..., None]] = {
        "on_part_begin": on_part_begin,
        "on_part_data": pieces.add,
        "on_part_end": lambda: setattr(parts[-1], "data", pieces.join()),
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise HTTPError(400, "invalid_multipart", f"malformed multipart/form-data body ({exc})") from exc
    return parts


class _Pieces:
    """The data of one part as the parser hands it over: runs of the body are kept as (start, end) and merged while
    they follow each other; a piece from the parser's own look-behind buffer is kept as bytes."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pieces: list[tuple[int, int] | bytes] = []

    def clear(self) -> None:
        self.pieces = []

    def add(self, data: bytes, start: int, end: int) -> None:
        last = self.pieces[-1] if self.pieces else None
        if data is not self.body:
            self.pieces.append(bytes(data[start:end]))
        elif isinstance(last, tuple) and last[1] == start:
            self.pieces[-1] = (last[0], end)
        else:
            self.pieces.append((start, end))

    def join(self) -> bytes:
        chunks = [self.body[p[0] : p[1]] if isinstance(p, tuple) else p for p in self.pieces]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")

