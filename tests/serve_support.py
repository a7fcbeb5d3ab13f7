"""Shared pieces of the HTTP shim tests: apps on real servers and the JSON-error contract."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge_infer.serve.core import MB, ServeConfig

FRAMEWORKS = ["fastapi", "flask"]
LIMITS = ServeConfig(max_body_bytes=2 * MB, max_pixels=4_000_000, timeout_s=60.0, max_batch_items=8)


def assert_alive(client: httpx.Client, photo: Path) -> None:
    """After a bad request the server still answers /health and a good /predict."""
    assert client.get("/health").json()["status"] == "ok"
    r = client.post("/predict", files={"file": ("china.jpg", photo.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text


def assert_json_error(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == status and body["error"] and body["detail"]
    assert "Traceback" not in r.text and "<html" not in r.text.lower()
    for w in words:
        assert w in body["detail"].lower(), body
    return body
