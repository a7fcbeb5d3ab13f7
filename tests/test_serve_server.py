"""The shim as a server: limits and timeouts, the CLI, binding warnings, tabular artifacts, a free event loop, JSON 500s."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from edge_infer.serve.core import ServeConfig  # noqa: E402
from edge_infer.serve.server import ServerProcess, exposure_warning  # noqa: E402
from edge_infer.serve.testing import ServerThread, make_app  # noqa: E402
from serve_support import FRAMEWORKS, assert_json_error  # noqa: E402


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_timeout_is_a_json_503(framework: str, tmp_path: Path, photo: Path) -> None:
    from edge_infer.testing import write_fake_artifact

    slow = write_fake_artifact(tmp_path, latency_ms=200.0)  # far over the 1 ms timeout, however fast the machine
    config = ServeConfig(timeout_s=0.001)
    with ServerThread(make_app(framework, slow, config), framework) as srv, httpx.Client(base_url=srv.url) as c:
        assert_json_error(c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}), 503, "timeout")
        assert c.get("/health").status_code == 200


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

        with RemotePredictor.connect(srv.url) as remote:
            assert remote.predict(row).prediction == want["prediction"]


def test_joblib_needs_trust(iris_artifacts: dict[str, Path]) -> None:
    from edge_infer.errors import ArtifactError
    from edge_infer.serve.core import ShimCore

    with pytest.raises(ArtifactError, match="trust"):
        ShimCore(iris_artifacts["joblib"])


def test_request_thread_drops_a_request_queued_past_its_timeout(tmp_path: Path, photo: Path) -> None:
    """ShimCore.run (Flask's path: the model in the request thread) bounds model calls with the core's slots: a
    request still waiting for the busy slot when its timeout expires is a 503 while the slot's call still runs."""
    from edge_infer.serve.core import ShimCore
    from edge_infer.serve.errors import HTTPError
    from edge_infer.testing import write_fake_artifact

    slow = write_fake_artifact(tmp_path, latency_ms=3000.0)
    core = ShimCore(slow, ServeConfig(timeout_s=0.2, concurrency=1))
    calls = 0
    predict = core.predictor.predict

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return predict(*args, **kwargs)  # type: ignore[arg-type]

    core.predictor.predict = counted  # type: ignore[method-assign]
    data = photo.read_bytes()

    def run() -> int:
        try:
            return core.run("image/jpeg", data, batch=False, received=time.perf_counter()).status
        except HTTPError as exc:
            return exc.status

    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(run)
            while calls == 0:  # the first request holds the only slot
                time.sleep(0.01)
            assert run() == 503 and not first.done()  # the second gave up queued, the model call still runs
            assert first.result() == 503  # answered after its timeout: 503 too, as the async server answers
        assert calls == 1
        assert run() == 503 and calls == 2  # the slot is free again: this one reached the model (and outlived 0.2 s)
    finally:
        core.close()


# -- the event loop stays free while the model runs; the bench and the overhead measurement -----------------------------
def test_health_answers_while_predictions_queue(tmp_path: Path, photo: Path) -> None:
    """With one model slot busy and requests queued, /health still answers (inference is off the event loop)."""
    from edge_infer.testing import write_fake_artifact

    slow = write_fake_artifact(tmp_path, latency_ms=150.0)  # 6 requests queue for about 0.9 s
    with ServerThread(make_app("fastapi", slow, ServeConfig(concurrency=1)), "fastapi") as srv:
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


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_internal_error_is_a_json_500(framework: str, default_onnx: Path, photo: Path) -> None:
    """A backend that breaks mid-service (its session released) answers 500 JSON without internals, then recovers."""
    from edge_infer.serve.core import ShimCore

    core = ShimCore(default_onnx, ServeConfig(backend="onnxruntime"))  # the test releases its session
    if framework == "fastapi":
        from edge_infer.serve.fastapi_app import create_app

        app: object = create_app(core)
    else:
        from edge_infer.serve.flask_app import CORE_KEY, create_app as create_flask_app

        app = create_flask_app(default_onnx, ServeConfig(backend="onnxruntime"))
        core = app.extensions[CORE_KEY]  # type: ignore[attr-defined]
    with ServerThread(app, framework) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        session = core.predictor.session  # type: ignore[attr-defined]
        core.predictor.session = None  # type: ignore[attr-defined]
        body = assert_json_error(c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}), 500)
        assert body["error"] == "internal_error" and "session" not in body["detail"].lower()
        core.predictor.session = session  # type: ignore[attr-defined]
        assert c.post("/predict", files={"file": ("c.jpg", photo.read_bytes())}).status_code == 200


def test_opencv_runs_without_worker_threads_of_its_own_while_serving(monkeypatch: pytest.MonkeyPatch,
                                                                      fake_artifact: Path) -> None:  # fmt: skip
    """Requests are decoded side by side on the server's threads; OpenCV's own workers would fight the model's."""
    import cv2

    from edge_infer.serve import fastapi_app, server

    seen: list[int] = []
    monkeypatch.setattr(server, "_serve", lambda *args: seen.append(cv2.getNumThreads()))
    cv2.setNumThreads(2)
    try:
        server.serve(fake_artifact, framework="flask")
        after = cv2.getNumThreads()
        monkeypatch.setenv(fastapi_app.ENV_VAR, f'{{"artifact": "{fake_artifact.as_posix()}"}}')
        fastapi_app.app_from_env()  # a uvicorn worker process (--workers N) builds its app here
        in_worker = cv2.getNumThreads()
    finally:
        cv2.setNumThreads(-1)
    assert seen == [1] and after == 2 and in_worker == 1
