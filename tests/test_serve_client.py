"""The Python client's transport (``edge_infer.serve.transport``, ``http.client``) against the real shim: keep-alive
across the server's idle timeout, one connection per thread, timeouts, 5xx and unreachable servers as RemoteError
naming the URL, and multipart bodies the shim's parser reads byte for byte."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")

from edge_infer.errors import InputError, RemoteError  # noqa: E402
from edge_infer.serve.client import RemotePredictor  # noqa: E402
from edge_infer.serve.core import ServeConfig  # noqa: E402
from edge_infer.serve.server import free_port  # noqa: E402
from edge_infer.serve.testing import make_app, serve_in_thread  # noqa: E402
from edge_infer.serve.transport import Connection, multipart_body  # noqa: E402
from edge_infer.testing import write_fake_artifact  # noqa: E402


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_artifact(tmp_path_factory.mktemp("fake"), latency_ms=30.0)


class ShortKeepAlive:
    """The FastAPI shim on uvicorn with a 0.3 s keep-alive timeout: it closes a connection idle for longer."""

    def __init__(self, artifact: Path, config: ServeConfig | None = None) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(make_app("fastapi", artifact, config), host="127.0.0.1", port=self.port,
                             timeout_keep_alive=0.3, log_level="warning")  # fmt: skip
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ShortKeepAlive:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def short(fake: Path) -> Iterator[ShortKeepAlive]:
    with ShortKeepAlive(fake) as srv:
        yield srv


def test_keep_alive_and_a_connection_closed_while_idle(short: ShortKeepAlive, photo: Path) -> None:
    data = photo.read_bytes()
    with RemotePredictor.connect(short.url) as remote:
        conn = remote.connection._connection("test")
        first = remote.predict(data)
        port = conn.sock.getsockname()[1]
        assert remote.predict(data).class_id == first.class_id
        assert conn.sock.getsockname()[1] == port  # kept alive between requests
        deadline = time.monotonic() + 30
        while not _closed_by_server(conn.sock) and time.monotonic() < deadline:
            time.sleep(0.05)  # the server closes the connection once idle for 0.3 s
        assert _closed_by_server(conn.sock)
        assert remote.predict(data).class_id == first.class_id  # sent once more, on a new connection
        assert conn.sock.getsockname()[1] != port


def test_one_connection_per_thread(short: ShortKeepAlive, photo: Path) -> None:
    data = photo.read_bytes()
    with RemotePredictor.connect(short.url) as remote:
        want = remote.predict(data).class_id
        start, got = threading.Barrier(4), []

        def client() -> None:
            start.wait()  # the 4 threads' requests overlap (30 ms each)
            got.extend(remote.predict(data).class_id for _ in range(4))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [want] * 16
        assert len(remote.connection._connections) == 5  # this thread's and one per client thread


def _closed_by_server(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""


def test_unreachable_server_timeout_and_5xx_name_the_url(fake: Path, photo: Path, tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RemoteError, match=rf"http://127\.0\.0\.1:{port}/model: cannot reach the server"):
        RemotePredictor.connect(f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteError, match="not an http:// or https:// URL"):
        RemotePredictor.connect("127.0.0.1:8000")
    slow = write_fake_artifact(tmp_path, latency_ms=1500.0)
    with serve_in_thread(slow, "fastapi", ServeConfig(timeout_s=0.3)) as srv:
        with RemotePredictor.connect(srv.url, timeout_s=30) as remote:
            with pytest.raises(RemoteError, match=rf"{srv.url}/predict: server error 503"):
                remote.predict(photo)  # the model takes 1.5 s, the server gives it 0.3
    with serve_in_thread(slow, "fastapi") as srv:
        with RemotePredictor.connect(srv.url, timeout_s=30) as remote:
            with pytest.raises(InputError, match=rf"{srv.url}/predict refused the request \(400\)"):
                remote.predict(b"not an image")
        with RemotePredictor.connect(srv.url, timeout_s=0.5) as remote:
            with pytest.raises(RemoteError, match=rf"{srv.url}/predict: no answer within 0.5 s"):
                remote.predict(photo)
    remote.close()
    with pytest.raises(RemoteError, match="the client is closed"):
        remote.predict(photo)


def test_multipart_body_is_read_byte_exact_by_the_shim() -> None:
    from edge_infer.serve.parsing import parse_body

    items = [os.urandom(50_000), b"\r", b"\r\n--" + os.urandom(64) + b"\r\n"]
    names = ["a.jpg", 'quote"d\r\nname.png', "résumé.jpg"]
    ctype, body = multipart_body({"top_k": "3"}, [("file", (n, d, "image/jpeg")) for n, d in zip(names, items)])
    parsed = parse_body(ctype, body, kind="image", batch=True, max_items=8)
    assert parsed.items == tuple(items) and parsed.top_k == 3
    assert parsed.names == ("a.jpg", "quote%22d%0D%0Aname.png", "résumé.jpg")


def test_connection_sends_json_raw_bytes_and_query(fake: Path, photo: Path) -> None:
    with serve_in_thread(fake, "flask") as srv:
        conn = Connection(srv.url + "/")
        assert conn.request("GET", "/health")["status"] == "ok"
        raw = conn.request("POST", "/predict", content=photo.read_bytes(), headers={"Content-Type": "image/jpeg"},
                           params={"top_k": 2})  # fmt: skip
        assert len(raw["top_k"]) == 2
        with pytest.raises(InputError, match="refused the request"):
            conn.request("POST", "/predict", json={"image": "!!!"})
        conn.close()
