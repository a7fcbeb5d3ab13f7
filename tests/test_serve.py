"""The HTTP shim: real servers on loopback (uvicorn / werkzeug in a thread, the CLI in a subprocess), real httpx."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from edge_infer.errors import InputError  # noqa: E402
from edge_infer.serve.core import MB, ServeConfig  # noqa: E402
from edge_infer.serve.server import ServerProcess, ServerThread, exposure_warning  # noqa: E402

FRAMEWORKS = ["fastapi", "flask"]
LIMITS = ServeConfig(max_body_bytes=2 * MB, max_pixels=4_000_000, timeout_s=60.0, max_batch_items=8)


def make_app(framework: str, artifact: Path, config: ServeConfig) -> object:
    if framework == "fastapi":
        from edge_infer.serve.fastapi_app import create_app

        return create_app(artifact, config)
    from edge_infer.serve.flask_app import create_app as create_flask_app

    return create_flask_app(artifact, config)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request: pytest.FixtureRequest, default_onnx: Path) -> Iterator[ServerThread]:
    with ServerThread(make_app(request.param, default_onnx, LIMITS), request.param) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def photo(samples_dir: Path) -> Path:
    return samples_dir / "china.jpg"


@pytest.fixture(scope="module")
def local(default_onnx: Path) -> Iterator[object]:
    import edge_infer as ei

    with ei.load(default_onnx) as p:
        yield p


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


# -- the seed chapter's requests --------------------------------------------------------------------------------------
def test_health_and_model(client: httpx.Client, server: ServerThread, default_onnx: Path) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"] == "efficientnet_lite0" and h["format"] == "onnx"
    assert h["backend"] == "onnxruntime" and h["framework"] == server.framework and h["version"]
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


# -- bad input: a 4xx with a JSON body, and the server keeps serving -----------------------------------------------------
def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG whose header declares width x height pixels but which carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


BAD_CASES = [
    "not an image", "truncated", "bomb", "too many pixels", "empty file", "wrong field", "over limit",
    "wrong content type", "json wrong type", "json top_k zero", "json extra field", "json features to image model",
    "json not an object", "invalid json", "bad base64", "base64 of text", "query top_k not a number",
]  # fmt: skip


def bad_requests(photo: Path) -> dict[str, tuple[dict, int, tuple[str, ...]]]:
    jpeg = photo.read_bytes()
    return {
        "not an image": ({"files": {"file": ("notes.txt", b"hello, not a picture", "text/plain")}}, 400, ("not an image",)),
        "truncated": ({"files": {"file": ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg")}}, 400, ("truncated",)),
        "bomb": ({"content": bomb_png(), "headers": {"Content-Type": "image/png"}}, 400, ("pixels",)),
        "too many pixels": ({"content": bomb_png(3000, 2000), "headers": {"Content-Type": "image/png"}}, 400, ("limit",)),
        "empty file": ({"files": {"file": ("e.jpg", b"", "image/jpeg")}}, 400, ("empty",)),
        "wrong field": ({"files": {"photo": ("c.jpg", jpeg, "image/jpeg")}}, 400, ("file",)),
        "over limit": ({"content": b"\xff" * (2 * MB + 10), "headers": {"Content-Type": "image/jpeg"}}, 413, ("limit",)),
        "wrong content type": ({"content": b"a=b", "headers": {"Content-Type": "text/plain"}}, 415, ("content-type",)),
        "json wrong type": ({"json": {"image": 123}}, 422, ("image",)),
        "json top_k zero": ({"json": {"image": "aGk=", "top_k": 0}}, 422, ("top_k",)),
        "json extra field": ({"json": {"image": "aGk=", "colour": "red"}}, 422, ("colour",)),
        "json features to image model": ({"json": {"features": [1.0, 2.0]}}, 422, ("image",)),
        "json not an object": ({"json": [1, 2, 3]}, 422, ()),
        "invalid json": ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, ("json",)),
        "bad base64": ({"json": {"image": "!!!not base64!!!"}}, 400, ("base64",)),
        "base64 of text": ({"json": {"image": base64.b64encode(b"hello").decode()}}, 400, ("not an image",)),
        "query top_k not a number": ({"content": jpeg, "headers": {"Content-Type": "image/jpeg"}, "params": {"top_k": "x"}},
                                     422, ("top_k",)),
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


def test_docs_and_openapi(client: httpx.Client, server: ServerThread) -> None:
    if server.framework == "flask":  # the thin variant has no OpenAPI page: a JSON 404
        assert_json_error(client.get("/docs"), 404)
        return
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/jpeg"} <= set(body)
    assert "file" in body["multipart/form-data"]["schema"]["properties"]
    assert {"/health", "/model", "/predict/batch"} <= set(spec["paths"])


def test_top_k_query_for_raw_bytes(client: httpx.Client, photo: Path) -> None:
    r = client.post("/predict", content=photo.read_bytes(), headers={"Content-Type": "image/jpeg"}, params={"top_k": 2})
    assert r.status_code == 200 and len(r.json()["top_k"]) == 2


def test_concurrent_clients_get_no_5xx(server: ServerThread, photo: Path) -> None:
    clients, per_client = (8, 5) if server.framework == "fastapi" else (8, 3)
    data = photo.read_bytes()

    def one_client(_: int) -> list[int]:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return [c.post("/predict", files={"file": ("c.jpg", data, "image/jpeg")}).status_code for _ in range(per_client)]

    with ThreadPoolExecutor(clients) as pool:
        codes = [code for codes in pool.map(one_client, range(clients)) for code in codes]
    assert codes == [200] * (clients * per_client)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_timeout_is_a_json_503(framework: str, default_onnx: Path, photo: Path) -> None:
    config = ServeConfig(timeout_s=0.001)
    with ServerThread(make_app(framework, default_onnx, config), framework) as srv, httpx.Client(base_url=srv.url) as c:
        assert_json_error(c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}), 503, "timeout")
        assert c.get("/health").status_code == 200


# -- the client and the CLI --------------------------------------------------------------------------------------------
def test_remote_predictor_matches_local(server: ServerThread, photo: Path, local: object) -> None:
    import cv2

    from edge_infer.serve.client import RemotePredictor

    want = local.predict(photo, top_k=3)  # type: ignore[attr-defined]
    frame = cv2.imread(str(photo))
    for send in ("multipart", "json", "raw"):
        with RemotePredictor(server.url, send=send) as remote:
            assert remote.manifest.format == "onnx" and remote.name == "efficientnet_lite0"
            for image in (photo, photo.read_bytes()):
                got = remote.predict(image, top_k=3)
                assert [c.class_id for c in got.top_k] == [c.class_id for c in want.top_k]
                assert got.timings_ms["total"] >= got.timings_ms["server"] > 0
            assert remote.predict(frame, color_order="bgr").class_id == want.class_id  # PNG round trip is lossless
            assert [p.class_id for p in remote.predict_batch([photo, photo])] == [want.class_id] * 2
            with pytest.raises(InputError, match="not an image"):
                remote.predict(b"definitely not an image")


def test_cli_serve_subprocess(default_onnx: Path, photo: Path) -> None:
    with ServerProcess(default_onnx, "fastapi", config=ServeConfig(concurrency=1)) as srv:
        assert srv.health["framework"] == "fastapi"
        r = httpx.post(f"{srv.url}/predict", files={"file": ("china.jpg", photo.read_bytes())}, timeout=60)
        assert r.status_code == 200 and r.json()["label"]
    bad = subprocess.run([sys.executable, "-m", "edge_infer", "serve", str(default_onnx), "--framework", "django"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "unknown framework 'django'" in bad.stderr and "Traceback" not in bad.stderr


def test_exposure_warning() -> None:
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    for host in ("0.0.0.0", "::"):
        assert "exposes the model" in (exposure_warning(host) or "")


# -- tabular artifacts answer {"features": [...]} on the same routes ------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tabular_features(framework: str, iris_artifacts: dict[str, Path]) -> None:
    import edge_infer as ei

    row = [6.7, 3.0, 5.2, 2.3]
    with ei.load(iris_artifacts["onnx"]) as local:
        want = local.predict(row).to_dict()  # type: ignore[union-attr]
    with ServerThread(make_app(framework, iris_artifacts["onnx"], ServeConfig()), framework) as srv:
        c = httpx.Client(base_url=srv.url)
        got = c.post("/predict", json={"features": row}).json()
        assert {k: got[k] for k in want} == want and "server_timings_ms" in got
        named = dict(zip(c.get("/model").json()["features"]["names"], row))
        assert c.post("/predict", json={"features": named, "top_k": 1}).json()["prediction"] == want["prediction"]
        batch = c.post("/predict/batch", json={"features": [row, [5.1, 3.5, 1.4, 0.2]]}).json()["predictions"]
        assert [p["prediction"] for p in batch] == [want["prediction"], "setosa"]
        nan = b'{"features": [6.7, NaN, 5.2, 2.3]}'
        assert_json_error(c.post("/predict", content=nan, headers={"Content-Type": "application/json"}), 422, "nan")
        assert_json_error(c.post("/predict", json={"features": row[:3]}), 400, "expected 4 features")
        assert_json_error(c.post("/predict", json={"features": ["a", 1, 2, 3]}), 422)
        assert_json_error(c.post("/predict", json={"image": "aGk="}), 422, "tabular")
        assert_json_error(c.post("/predict", content=b"\xff\xd8", headers={"Content-Type": "image/jpeg"}), 415)
        assert c.post("/predict", json={"features": row}).status_code == 200
        from edge_infer.serve.client import RemotePredictor

        with RemotePredictor(srv.url) as remote:
            assert remote.predict(row).prediction == want["prediction"]


def test_joblib_needs_trust(iris_artifacts: dict[str, Path]) -> None:
    from edge_infer.errors import ArtifactError
    from edge_infer.serve.core import ShimCore

    with pytest.raises(ArtifactError, match="trust"):
        ShimCore(iris_artifacts["joblib"])


# -- the event loop stays free while the model runs; the bench and the overhead measurement -----------------------------
def test_health_answers_while_predictions_queue(default_onnx: Path, photo: Path) -> None:
    """With one model slot busy and requests queued, /health still answers (inference is off the event loop)."""
    with ServerThread(make_app("fastapi", default_onnx, ServeConfig(concurrency=1)), "fastapi") as srv:
        data = photo.read_bytes()

        def post(_: int) -> int:
            return httpx.post(f"{srv.url}/predict", files={"file": ("c.jpg", data)}, timeout=60).status_code

        with ThreadPoolExecutor(6) as pool:
            pending = [pool.submit(post, i) for i in range(6)]
            health = httpx.get(f"{srv.url}/health", timeout=60)
            assert health.status_code == 200
            queued_while_healthy = sum(not f.done() for f in pending)
            assert [f.result() for f in pending] == [200] * 6
        assert queued_while_healthy >= 1


def test_bench_via_http_and_flask(default_onnx: Path) -> None:
    from edge_infer.bench import BenchConfig, benchmark

    report = benchmark([str(default_onnx)], BenchConfig(runs=3, warmup=1, round_size=3, threads=(1,), memory=False),
                       source="synthetic:320x240", vias=["local", "http", "flask"])  # fmt: skip
    assert not report.errors, report.errors
    assert sorted(r.via for r in report.results) == ["flask", "http", "local"]
    for r in report.results:
        assert len(r.samples_ms) == 3 and len(r.e2e_samples_ms) == 3


def test_measure_http_overhead(default_onnx: Path, photo: Path) -> None:
    from edge_infer.serve.overhead import measure_http_overhead

    report = measure_http_overhead(default_onnx, ["fastapi"], clients=[1, 2], requests=4, rounds=2, warmup=2,
                                   image=photo, threads=1)  # fmt: skip
    cells = {(c["target"], c["clients"]): c for c in report.cells}
    assert set(cells) == {("local", 1), ("local", 2), ("fastapi", 1), ("fastapi", 2)}
    assert all(c["requests"] == 4 and c["statuses"] == {"200": 4} for c in cells.values())
    assert {(o["target"], o["clients"]) for o in report.overhead} == {("fastapi", 1), ("fastapi", 2)}
    assert "fastapi" in report.table() and report.to_dict()["kind"] == "http-overhead"


# -- slow: the soak and the fuzz run of the issue (scripts under benchmarks/) ------------------------------------------
def _bench_script(name: str) -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_soak_32_clients_for_a_minute(framework: str, default_onnx: Path, photo: Path) -> None:
    pytest.importorskip("psutil")
    result = _bench_script("serve_soak").soak(str(default_onnx), framework, 32, 60.0, photo.read_bytes(), 120.0)  # type: ignore[attr-defined]
    assert result["statuses"] == {"200": result["requests"]} and result["requests"] > 0, result["statuses"]
    assert result["pass"]["memory_flat"], result["server_rss_mb"]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_schemathesis_fuzz(framework: str, default_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    report = tmp_path / "fuzz.txt"
    rc = _bench_script("serve_fuzz").main(  # type: ignore[attr-defined]
        [str(default_onnx), "--framework", framework, "--max-examples", "50", "--report", str(report)]
    )
    assert rc == 0, report.read_text()[-3000:]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_internal_error_is_a_json_500(framework: str, default_onnx: Path, photo: Path) -> None:
    """A backend that breaks mid-service (its session released) answers 500 JSON without internals, then recovers."""
    from edge_infer.serve.core import ShimCore

    core = ShimCore(default_onnx)
    if framework == "fastapi":
        from edge_infer.serve.fastapi_app import create_app

        app: object = create_app(core)
    else:
        from edge_infer.serve.flask_app import CORE_KEY, create_app as create_flask_app

        app = create_flask_app(default_onnx)
        core = app.extensions[CORE_KEY]  # type: ignore[attr-defined]
    with ServerThread(app, framework) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        session = core.predictor.session  # type: ignore[attr-defined]
        core.predictor.session = None  # type: ignore[attr-defined]
        body = assert_json_error(c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}), 500)
        assert body["error"] == "internal_error" and "session" not in body["detail"].lower()
        core.predictor.session = session  # type: ignore[attr-defined]
        assert c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}).status_code == 200
