"""Test servers: the shim's app served from a thread of this process, on a free loopback port (as starlette ships
``TestClient``). Real servers (uvicorn, waitress) on real sockets: what a test or an embedding application needs.

    with serve_in_thread("model.onnx", "fastapi") as srv, RemotePredictor.connect(srv.url) as client:
        client.predict("photo.jpg")
"""

from __future__ import annotations

import os
import threading
from typing import Any

from edge_infer.serve.core import ServeConfig
from edge_infer.serve.server import (
    LOOPBACK,
    check_framework,
    free_port,
    stop_wsgi_server,
    url_host,
    wait_for_health,
    wsgi_server,
)


def make_app(framework: str, artifact: str | os.PathLike[str], config: ServeConfig | None = None) -> Any:
    """The FastAPI or Flask app of the shim for ``artifact``."""
    return check_framework(framework).app(artifact, config)


def serve_in_thread(
    artifact: str | os.PathLike[str], framework: str = "fastapi", config: ServeConfig | None = None
) -> ServerThread:
    """A ServerThread serving ``artifact`` (not started: use it in a ``with`` block)."""
    return ServerThread(make_app(framework, artifact, config), framework)


class ServerThread:
    """Run a FastAPI (uvicorn) or Flask (waitress) app in a daemon thread on loopback; a context manager."""

    def __init__(self, app: Any, framework: str, *, host: str = LOOPBACK, port: int = 0, quiet: bool = True) -> None:
        check_framework(framework)
        self.framework, self.host = framework, host
        self.port = port or free_port(host)
        self.url = f"http://{url_host(host)}:{self.port}"
        if framework == "fastapi":
            import uvicorn

            cfg = uvicorn.Config(app, host=host, port=self.port, access_log=not quiet, log_level="warning")
            self._uvicorn = uvicorn.Server(cfg)
            self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)
        else:
            from edge_infer.serve.flask_app import CORE_KEY

            self._app = app
            self._waitress = wsgi_server(app, host, self.port, app.extensions[CORE_KEY].config)
            self._thread = threading.Thread(target=self._waitress.run, daemon=True)

    def start(self, timeout_s: float = 60.0) -> ServerThread:
        self._thread.start()
        wait_for_health(self.url, timeout_s, alive=self._thread.is_alive)
        return self

    def stop(self) -> None:
        if self.framework == "fastapi":
            self._uvicorn.should_exit = True
        else:
            from edge_infer.serve.flask_app import CORE_KEY

            stop_wsgi_server(self._waitress)
            self._app.extensions[CORE_KEY].close()
        self._thread.join(timeout=30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
