"""Bench ``--via http`` / ``--via flask``: the artifact served by ``edge-infer serve`` in a subprocess on loopback.

Registered in ``edge_infer.bench.target.VIAS``. Opening the target starts the server (its start-up is the load
time) with the bench's thread count and returns a :class:`RemotePredictor` that stops the server when closed. The
bench then times the same calls as for ``local``: ``preprocess(frame)`` is the client-side encoding (frames are sent
as JPEG q90, what a camera client sends), ``run(x)`` one HTTP round trip in which the server decodes, preprocesses
and runs the model. So the end-to-end columns compare like with like (decoded frame in, class out); the model-only
column of an HTTP target includes the server's decode and preprocessing.
"""

from __future__ import annotations

from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.serve.client import RemotePredictor
from edge_infer.serve.core import ServeConfig
from edge_infer.serve.server import ServerProcess, check_framework


class ServedPredictor(RemotePredictor):
    """A RemotePredictor that owns the server process it talks to."""

    def __init__(self, server: ServerProcess, **kwargs: Any) -> None:
        self.server = server
        try:
            super().__init__(server.url, **kwargs)
        except BaseException:
            server.stop()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.server.stop()


def served_target(artifact: str, framework: str) -> Any:
    """A MeasureTarget for ``artifact`` behind the shim (``framework`` fastapi or flask)."""
    from edge_infer.bench.target import MeasureTarget

    check_framework(framework)
    art = Artifact.read(artifact)

    def open_(threads: int) -> ServedPredictor:
        server = ServerProcess(art.path, framework, config=ServeConfig(threads=threads, concurrency=1)).start()
        return ServedPredictor(server, frame_format="jpeg")

    return MeasureTarget.for_artifact(
        artifact,
        art,
        open_,
        via="http" if framework == "fastapi" else framework,
        memory_args=None,  # the model lives in the server process
        extra={"server": framework, "request": "multipart field `file`, frame as JPEG q90", "host": "127.0.0.1"},
    )


def http_target(artifact: str) -> Any:
    """``--via http``: FastAPI + uvicorn."""
    return served_target(artifact, "fastapi")


def flask_target(artifact: str) -> Any:
    """``--via flask``: Flask on werkzeug's threaded server."""
    return served_target(artifact, "flask")
