"""The HTTP shim's API as clients use it: the seed chapter's requests, bad input as JSON 4xx, docs, concurrency."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from edge_infer.choice import resolve  # noqa: E402
from edge_infer.errors import InputError  # noqa: E402
from edge_infer.serve.core import MB  # noqa: E402
from edge_infer.serve.testing import ServerThread, make_app  # noqa: E402
from pngs import png_header_only  # noqa: E402
from serve_support import FRAMEWORKS, LIMITS, assert_alive, assert_json_error  # noqa: E402


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request: pytest.FixtureRequest, default_onnx: Path) -> Iterator[ServerThread]:
    with ServerThread(make_app(request.param, default_onnx, LIMITS), request.param) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def test_health_and_model(client: httpx.Client, server: ServerThread, default_onnx: Path) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"] == "efficientnet_lite0" and h["format"] == "onnx"
    assert h["backend"] == resolve(default_onnx).backend and h["framework"] == server.framework and h["version"]
    m = client.get("/model").json()
    assert m["sha256"] and m["preprocess"]["crop"] == 224 and len(m["labels"]) == 1000


def test_multipart_file_matches_local(client: httpx.Client, photo: Path, local: object) -> None:
    r = client.post("/predict", files={"file": ("china.jpg", photo.read_bytes(), "image/jpeg")}, data={"top_k": "3"})
    assert r.status_code == 200, r.text
    got = r.json()
    want = local.predict(photo, top_k=3).to_dict()  # type: ignore[attr-defined]
    assert got["input"] == "china.jpg"
    assert set(want) <= set(got) and {"queue", "parse", "predict", "total"} <= set(got["server_timings_ms"])
    assert [c["class_id"] for c in got["top_k"]] == [c["class_id"] for c in want["top_k"]]
    np.testing.assert_allclose([c["score"] for c in got["top_k"]], [c["score"] for c in want["top_k"]], atol=1e-5)


def test_base64_json_data_url_and_raw_bytes(client: httpx.Client, photo: Path) -> None:
    data = photo.read_bytes()
    b64 = base64.b64encode(data).decode()
    answers = [
        client.post("/predict", json={"image": b64, "top_k": 2}),
        client.post("/predict", json={"image": f"data:image/jpeg;base64,{b64}", "top_k": 2}),
        client.post("/predict", content=data, headers={"Content-Type": "image/jpeg"}),
        client.post("/predict", content=data, headers={"Content-Type": "application/octet-stream"}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
    assert len({r.json()["class_id"] for r in answers}) == 1
    assert len(answers[0].json()["top_k"]) == 2


def test_batch(client: httpx.Client, samples_dir: Path) -> None:
    names = ["china.jpg", "flower.jpg", "coffee.png"]
    files = [("file", (n, (samples_dir / n).read_bytes(), "application/octet-stream")) for n in names]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["input"] for p in preds] == names
    single = client.post("/predict", files={"file": ("f.jpg", (samples_dir / "flower.jpg").read_bytes())}).json()
    assert preds[1]["class_id"] == single["class_id"]
    encoded = [base64.b64encode((samples_dir / n).read_bytes()).decode() for n in names[:2]]
    r = client.post("/predict/batch", json={"images": encoded, "top_k": 1})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2


BAD_CASES = [
    "not an image", "truncated", "bomb", "too many pixels", "empty file", "wrong field", "over limit",
    "wrong content type", "json wrong type", "json top_k zero", "json extra field", "json features to image model",
    "json not an object", "invalid json", "bad base64", "base64 of text", "query top_k not a number",
]  # fmt: skip


def bad_requests(photo: Path) -> dict[str, tuple[dict, int, tuple[str, ...]]]:
    jpeg = photo.read_bytes()
    return {
        "not an image": (
            {"files": {"file": ("notes.txt", b"hello, not a picture", "text/plain")}},
            400,
            ("not an image",),
        ),
        "truncated": ({"files": {"file": ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg")}}, 400, ("truncated",)),
        "bomb": (
            {"content": png_header_only(30000, 30000), "headers": {"Content-Type": "image/png"}},
            400,
            ("pixels",),
        ),
        "too many pixels": (
            {"content": png_header_only(3000, 2000), "headers": {"Content-Type": "image/png"}},
            400,
            ("limit",),
        ),
        "empty file": ({"files": {"file": ("e.jpg", b"", "image/jpeg")}}, 400, ("empty",)),
        "wrong field": ({"files": {"photo": ("c.jpg", jpeg, "image/jpeg")}}, 400, ("file",)),
        "over limit": (
            {"content": b"\xff" * (2 * MB + 10), "headers": {"Content-Type": "image/jpeg"}},
            413,
            ("limit",),
        ),
        "wrong content type": ({"content": b"a=b", "headers": {"Content-Type": "text/plain"}}, 415, ("content-type",)),
        "json wrong type": ({"json": {"image": 123}}, 422, ("image",)),
        "json top_k zero": ({"json": {"image": "aGk=", "top_k": 0}}, 422, ("top_k",)),
        "json extra field": ({"json": {"image": "aGk=", "colour": "red"}}, 422, ("colour",)),
        "json features to image model": ({"json": {"features": [1.0, 2.0]}}, 422, ("image",)),
        "json not an object": ({"json": [1, 2, 3]}, 422, ()),
        "invalid json": ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, ("json",)),
        "bad base64": ({"json": {"image": "!!!not base64!!!"}}, 400, ("base64",)),
        "base64 of text": ({"json": {"image": base64.b64encode(b"hello").decode()}}, 400, ("not an image",)),
        "query top_k not a number": (
            {"content": jpeg, "headers": {"Content-Type": "image/jpeg"}, "params": {"top_k": "x"}},
            422,
            ("top_k",),
        ),
    }


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_json_4xx_and_server_keeps_serving(client: httpx.Client, photo: Path, case: str) -> None:
    kwargs, status, words = bad_requests(photo)[case]
    assert_json_error(client.post("/predict", **kwargs), status, *words)
    assert_alive(client, photo)


def test_batch_error_names_the_bad_image_and_limits(client: httpx.Client, photo: Path) -> None:
    jpeg = photo.read_bytes()
    files = [("file", ("good.jpg", jpeg, "image/jpeg")), ("file", ("bad.jpg", b"nope", "image/jpeg"))]
    assert_json_error(client.post("/predict/batch", files=files), 400, "bad.jpg")
    many = [("file", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(9)]
    assert_json_error(client.post("/predict/batch", files=many), 413, "limit")
    assert_json_error(client.post("/predict/batch", content=jpeg, headers={"Content-Type": "image/jpeg"}), 415)
    assert_alive(client, photo)


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_json_error(client.get("/nope"), 404)
    r = client.get("/predict")
    assert_json_error(r, 405)
    assert "POST" in r.headers.get("allow", "")


def test_docs_and_openapi(client: httpx.Client) -> None:
    """Both variants serve the same OpenAPI document and the Swagger UI / ReDoc pages with their own files: nothing
    on the pages points off this server (the browser check is tests/test_serve_docs.py)."""
    import re

    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/jpeg"} <= set(body)
    assert "file" in body["multipart/form-data"]["schema"]["properties"]
    assert {"/health", "/model", "/predict/batch"} <= set(spec["paths"])
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:200]
        urls = re.findall(r'(?:src|href|url|spec-url)\s*[=:]\s*["\']([^"\']+)', r.text)
        assert urls and not [u for u in urls if "//" in u], urls  # every script, style and spec URL is local
        for url in urls:
            got = client.get(url)
            assert got.status_code == 200 and len(got.content) > 100, url
    assert b"SwaggerUIBundle" in client.get("/static-offline-docs/swagger-ui-bundle.js").content
    assert b"Redoc" in client.get("/static-offline-docs/redoc.standalone.js").content
    assert_json_error(client.get("/static-offline-docs/nope.js"), 404)


def test_top_k_query_for_raw_bytes(client: httpx.Client, photo: Path) -> None:
    r = client.post("/predict", content=photo.read_bytes(), headers={"Content-Type": "image/jpeg"}, params={"top_k": 2})
    assert r.status_code == 200 and len(r.json()["top_k"]) == 2


def test_concurrent_clients_get_no_5xx(server: ServerThread, photo: Path) -> None:
    clients, per_client = (8, 5) if server.framework == "fastapi" else (8, 3)
    data = photo.read_bytes()

    def one_client(_: int) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return [
                c.post("/predict", files={"file": ("c.jpg", data, "image/jpeg")}).status_code for _ in range(per_client)
            ]

    with ThreadPoolExecutor(clients) as pool:
        codes = [code for codes in pool.map(one_client, range(clients)) for code in codes]
    assert codes == [200] * (clients * per_client)


# -- the remote client --------------------------------------------------------------------------------------------
def test_remote_predictor_matches_local(server: ServerThread, photo: Path, local: object) -> None:
    import cv2

    from edge_infer.serve.client import RemotePredictor

    want = local.predict(photo, top_k=3)  # type: ignore[attr-defined]
    frame = cv2.imread(str(photo))
    for send in ("multipart", "json", "raw"):
        with RemotePredictor.connect(server.url, send=send) as remote:
            assert remote.manifest.format == "onnx" and remote.name == "efficientnet_lite0"
            for image in (photo, photo.read_bytes()):
                got = remote.predict(image, top_k=3)
                assert [c.class_id for c in got.top_k] == [c.class_id for c in want.top_k]
                assert got.timings_ms["total"] >= got.timings_ms["server"] > 0
            assert remote.predict(frame, color_order="bgr").class_id == want.class_id  # PNG round trip is lossless
            assert [p.class_id for p in remote.predict_batch([photo, photo])] == [want.class_id] * 2
            with pytest.raises(InputError, match="not an image"):
                remote.predict(b"definitely not an image")
