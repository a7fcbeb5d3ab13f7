"""Run the shim: uvicorn for FastAPI, waitress for Flask; in this process, a thread or a subprocess.

``serve()`` blocks (what ``edge-infer serve`` calls). ``ServerProcess`` starts ``edge-infer serve`` in a subprocess
on a free loopback port, waits for ``/health`` and stops it (what the bench uses, so server and client do not share
a Python interpreter). An app in a thread of this process, for tests and embedding: ``edge_infer.serve.testing``.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_infer.errors import BackendUnavailableError, SpecError
from edge_infer.registry import Registry
from edge_infer.serve.core import MB, ServeConfig, ShimCore
from edge_infer.threads import opencv_threads



@dataclass(frozen=True, kw_only=True)
class Framework:
    """A web framework the shim runs on: the modules it needs and the function that builds its app."""

    name: str
    modules: tuple[str, ...]
    create_app: str  # "module:function" taking (artifact, config)
    description: str

    def check(self) -> None:
        """Its modules import, or BackendUnavailableError naming the ``serve`` extra."""
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise BackendUnavailableError("the HTTP shim", exc.name or module, "serve") from exc

    def app(self, artifact: str | os.PathLike[str], config: ServeConfig | None = None) -> Any:
        self.check()
        module, _, fn = self.create_app.partition(":")
        return getattr(importlib.import_module(module), fn)(artifact, config)


FRAMEWORKS: Registry[str, Framework] = Registry("framework")
FRAMEWORKS.register("fastapi", Framework(
    name="fastapi", modules=("fastapi", "uvicorn", "python_multipart", "fastapi_offline", "pybase64"),
    create_app="edge_infer.serve.fastapi_app:create_app",
    description="FastAPI on uvicorn (uvloop + httptools when installed; --workers N)"))
FRAMEWORKS.register("flask", Framework(
    name="flask", modules=("flask", "waitress", "python_multipart", "fastapi", "fastapi_offline", "pybase64"),
    create_app="edge_infer.serve.flask_app:create_app",
    description="Flask on waitress (threaded WSGI server with keep-alive)"))
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = {"0.0.0.0", "::", "[::]", ""}


def exposure_warning(host: str) -> str | None:
    """A warning when ``host`` binds every interface (the model is then reachable from the network)."""
    if host.strip() in ALL_INTERFACES:
        return (f"WARNING: binding to {host or 'all interfaces'} exposes the model to every machine that can "
                "reach this one; the shim has no authentication. Use --host 127.0.0.1 unless that is what you "
                "want.")  # fmt: skip
    return None


def check_framework(framework: str) -> Framework:
    """The framework called ``framework``, with its modules importable (else the extra to install)."""
    fw = FRAMEWORKS[framework]
    fw.check()
    return fw


def serve(
    artifact: str | os.PathLike[str],
    *,
    host: str = LOOPBACK,
    port: int = 8000,
    workers: int = 1,
    framework: str = "fastapi",
    config: ServeConfig | None = None,
    access_log: bool = True,
) -> None:
    """Serve ``artifact`` until interrupted. ``workers`` > 1 (FastAPI only): that many processes, each with a model.
    While it serves, OpenCV uses no worker threads of its own (``threads.opencv_threads``): requests are decoded side
    by side on the server's threads already (FastAPI at 8 clients, 2 cores: +5-9% requests a second, docs/serve.md)."""
    check_framework(framework)
    config = config or ServeConfig()
    if workers < 1:
        raise SpecError(f"--workers must be at least 1, got {workers}")
    if warning := exposure_warning(host):
        print(warning, file=sys.stderr, flush=True)
    with opencv_threads(1):
        _serve(artifact, host, port, workers, framework, config, access_log)


def _serve(artifact: str | os.PathLike[str], host: str, port: int, workers: int, framework: str, config: ServeConfig,
           access_log: bool) -> None:  # fmt: skip
    if framework == "flask":
        if workers != 1:
            raise SpecError("--framework flask runs one process (threaded); use --framework fastapi for --workers > 1")
        _serve_flask(artifact, host, port, config, access_log)
        return
    import uvicorn

    from edge_infer.serve import fastapi_app

    log_level = "info" if access_log else "warning"
    core = ShimCore(artifact, config)  # load here: a bad artifact is a one-line error, not a failed start-up
    print(f"edge-infer serve (fastapi/uvicorn, {workers} worker(s)): {core.name} on http://{url_host(host)}:{port} "
          f"(docs at /docs)", file=sys.stderr, flush=True)  # fmt: skip
    if workers == 1:
        uvicorn.run(fastapi_app.create_app(core), host=host, port=port, access_log=access_log, log_level=log_level)
        return
    core.close()  # each worker process loads its own
    os.environ[fastapi_app.ENV_VAR] = json.dumps({"artifact": str(artifact), "config": config.to_dict()})
    uvicorn.run("edge_infer.serve.fastapi_app:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_level=log_level)  # fmt: skip


def wsgi_server(app: Any, host: str, port: int, config: ServeConfig) -> Any:
    """The waitress server for the Flask app: keep-alive, TCP_NODELAY, request threads that run the model themselves
    (one per free model slot, the others wait for one) and send the answer (waitress flushes as soon as the app
    writes). Waitress buffers a body before the app sees it, so it refuses bodies over twice the shim's limit itself
    (a plain-text 413, without reading them); the app answers JSON 413s below that."""
    import waitress

    return waitress.create_server(app, host=host, port=port, threads=WSGI_THREADS, ident="edge-infer",
                                  max_request_body_size=2 * config.max_body_bytes + MB, recv_bytes=RECV_BYTES,
                                  clear_untrusted_proxy_headers=True)  # fmt: skip


RECV_BYTES = 256 * 1024  # waitress reads the socket in these (its default, 8 kB, is 24 parser passes for a photo)
WSGI_THREADS = 16  # waitress request threads; all but --concurrency of them wait for a model slot


def stop_wsgi_server(server: Any) -> None:
    """Stop a waitress server whose ``run()`` loop is in another thread: its sockets are closed from inside that loop
    (waitress's trigger runs a callable there), which then ends; then its request threads are joined."""
    from waitress import wasyncore

    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map, ignore_all=True))
    server.task_dispatcher.shutdown()


def _serve_flask(artifact: str | os.PathLike[str], host: str, port: int, config: ServeConfig, access_log: bool) -> None:
    from edge_infer.serve.flask_app import CORE_KEY, create_app, log_requests

    app = create_app(artifact, config)
    if access_log:
        log_requests(app)
    server = wsgi_server(app, host, port, config)
    print(f"edge-infer serve (flask/waitress): {app.extensions[CORE_KEY].name} on "
          f"http://{url_host(host)}:{server.effective_port} (docs at /docs)", file=sys.stderr, flush=True)  # fmt: skip
    try:
        server.run()  # until interrupted
    finally:
        server.close()
        app.extensions[CORE_KEY].close()


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_health(url: str, timeout_s: float, alive: Any = None) -> dict[str, Any]:
    """Poll ``url/health`` until it answers 200; ``alive()`` returning False aborts early."""
    from edge_infer.errors import InputError, RemoteError
    from edge_infer.serve.transport import Connection

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise SpecError(f"server at {url} exited before it became healthy")
        conn = Connection(url, timeout_s=2.0)
        try:
            return conn.request("GET", "/health")
        except (RemoteError, InputError):
            pass  # not listening yet, or not ready: ask again
        finally:
            conn.close()
        time.sleep(0.1)
    raise SpecError(f"server at {url} did not become healthy within {timeout_s:g} s")


class ServerProcess:
    """``edge-infer serve`` in a subprocess on a free loopback port; ``url`` once started; a context manager."""

    def __init__(
        self,
        artifact: str | os.PathLike[str],
        framework: str = "fastapi",
        *,
        config: ServeConfig | None = None,
        port: int | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        check_framework(framework)
        self.artifact, self.framework, self.workers = Path(artifact), framework, workers
        self.config = config or ServeConfig()
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.env = env
        self.health: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    def command(self) -> list[str]:
        c = self.config
        cmd = [sys.executable, "-m", "edge_infer", "serve", str(self.artifact), "--host", LOOPBACK,
               "--port", str(self.port), "--framework", self.framework, "--workers", str(self.workers),
               "--max-body-mb", str(c.max_body_bytes / MB), "--max-pixels", str(c.max_pixels),
               "--timeout", str(c.timeout_s), "--concurrency", str(c.concurrency),
               "--max-batch", str(c.max_batch_items), "--no-access-log"]  # fmt: skip
        cmd += ["--threads", str(c.threads)] if c.threads else []
        cmd += ["--backend", c.backend] if c.backend else []
        return cmd + (["--trust"] if c.trust else [])

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        env = {**os.environ, **(self.env or {})}
        self._proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            proc = self._proc
            self.health = wait_for_health(self.url, timeout_s, alive=lambda: proc.poll() is None)
        except SpecError as exc:
            self.stop()
            raise SpecError(f"{exc}; its output:\n{self.output()[-2000:]}") from exc
        return self

    @property
    def pid(self) -> int | None:
        """The server process id while it runs (to watch its memory, for example)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
