"""What a benchmark measures: a ``MeasureTarget`` opens a predictor-like object for a thread count.

A predictor-like object has ``preprocess(image) -> batch``, ``run(batch) -> raw scores`` and ``close()``
(``edge_infer.Predictor`` and the HTTP ``RemotePredictor`` both qualify). ``via`` says how predictions travel:
``local`` (in this process) by default; other ways register a factory in ``VIAS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.errors import UnknownNameError


class PredictorLike(Protocol):
    def preprocess(self, image: Any) -> np.ndarray: ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class MeasureTarget:
    """One thing to time. ``open(threads)`` returns a ready predictor-like object (timed as load time);
    ``memory_args`` are the arguments of ``python -m edge_infer.bench.memory`` that reproduce it alone in a fresh
    process (None: memory is not measured, e.g. when the model runs in another process)."""

    label: str
    artifact: str
    format: str
    backend: str
    open: Callable[[int], Any]
    via: str = "local"
    task: str = "image-classification"
    features: dict[str, Any] | None = None  # a tabular manifest's feature names and range rules
    size_bytes: int | None = None
    memory_args: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_artifact(cls, given: str, art: Artifact, open: Callable[[int], Any], **kwargs: Any) -> MeasureTarget:
        """A target for artifact ``art`` (read from the path ``given``): label, format, backend and size come from
        them; ``kwargs`` set the rest."""
        return cls(label=Path(given).name, artifact=str(given), format=art.manifest.format, backend=art.format.backend,
                   open=open, task=art.manifest.task, features=art.manifest.extra.get("features"),
                   size_bytes=art.path.stat().st_size, **kwargs)  # fmt: skip


def local_target(artifact: str, *, trust: bool = False) -> MeasureTarget:
    """An artifact loaded in this process with ``edge_infer.load(path, threads=T)`` (``trust``: joblib/pickle)."""
    from edge_infer.runtime import load

    art = Artifact.read(artifact)

    def open_(threads: int) -> Any:
        return load(art, threads=threads, trust=trust)

    return MeasureTarget.for_artifact(
        artifact,
        art,
        open_,
        memory_args=("--artifact", str(artifact), *(("--trust",) if trust else ())),
        extra={"verification": art.manifest.verification.get("status", "not recorded")},
    )


# via name -> "module:function(artifact_path) -> MeasureTarget"; imported only when used.
VIAS: dict[str, str] = {
    "local": "edge_infer.bench.target:local_target",
    "http": "edge_infer.serve.bench_target:http_target",  # FastAPI shim in a subprocess on loopback
    "flask": "edge_infer.serve.bench_target:flask_target",  # Flask variant of the shim
}


def register_via(name: str, factory: str) -> None:
    if name in VIAS:
        raise ValueError(f"via {name!r} is already registered")
    VIAS[name] = factory


def make_target(artifact: str, via: str = "local", *, trust: bool = False) -> MeasureTarget:
    """The measurement target for ``artifact`` reached through ``via``; ``trust`` allows joblib/pickle artifacts
    (loaded in this process: ``local`` only)."""
    try:
        ref = VIAS[via]
    except KeyError:
        raise UnknownNameError("via", via, VIAS) from None
    if via == "local":
        return local_target(artifact, trust=trust)
    module, _, fn = ref.partition(":")
    target: MeasureTarget = getattr(importlib.import_module(module), fn)(artifact)
    return target
