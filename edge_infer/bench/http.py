"""Bench ``--via http`` / ``--via flask``: the artifact served by ``edge-infer serve`` in a subprocess on loopback.

Opening the target starts the server (its start-up is the load time) with the bench's thread count and returns a
``RemotePredictor`` that stops the server when closed. The bench then times the same calls as for ``local``:
``preprocess(frame)`` is the client-side encoding (frames are sent as JPEG q90, what a camera client sends),
``run(x)`` one HTTP round trip in which the server decodes, preprocesses and runs the model. So the end-to-end
columns compare like with like (decoded frame in, class out); the model-only column of an HTTP target includes the
server's decode and preprocessing.
"""

from __future__ import annotations

from edge_infer.artifact import Artifact
from edge_infer.bench.target import MeasureTarget
from edge_infer.predictors import Predictor
from edge_infer.serve.client import RemotePredictor
from edge_infer.serve.core import ServeConfig
from edge_infer.serve.server import ServerProcess, check_framework


def served_target(artifact: str, framework: str, *, backend: str | None = None) -> MeasureTarget:
    """A MeasureTarget for ``artifact`` behind the shim (``framework`` fastapi or flask)."""
    check_framework(framework)
    art = Artifact.read(artifact)

    def open_(threads: int) -> Predictor:
        config = ServeConfig(threads=threads, concurrency=1, backend=backend)
        server = ServerProcess(art.path, framework, config=config).start()
        started = False
        try:
            client = RemotePredictor.connect(server.url, frame_format="jpeg", on_close=server.stop)
            started = True
        finally:
            if not started:
                server.stop()
        return client

    return MeasureTarget.for_artifact(
        artifact,
        art,
        open_,
        via="http" if framework == "fastapi" else framework,
        memory_args=None,  # the model lives in the server process
        extra={"server": framework, "request": "multipart field `file`, frame as JPEG q90", "host": "127.0.0.1"},
    )
