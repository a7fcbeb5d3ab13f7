"""What a benchmark measures: a ``MeasureTarget`` opens a ``Predictor`` for a thread count.

Any Predictor can be measured: an artifact loaded here (``local``), the same artifact behind the HTTP shim
(``http``, ``flask``: a ``RemotePredictor``), the PyTorch eager baseline, a fake. ``via`` says how predictions travel;
each way is one row of ``VIAS``, each baseline one row of ``BASELINES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.features import FeatureSpec
from edge_infer.predictors import Predictor
from edge_infer.registry import Registry

Opener = Callable[[int], Predictor]
Preparer = Callable[["MeasureTarget", int], "MeasureTarget"]


@dataclass(frozen=True, kw_only=True)
class MeasureTarget:
    """One thing to time. ``open(threads)`` returns a ready Predictor (timed as load time); ``memory_args`` are the
    arguments of ``python -m edge_infer.bench.memory`` that reproduce it alone in a fresh process (None: memory is
    not measured, e.g. when the model runs in another process)."""

    label: str
    artifact: str
    format: str
    backend: str
    open: Opener
    via: str = "local"
    task: str = "image-classification"
    features: FeatureSpec | None = None  # a tabular manifest's feature names and range rules
    size_bytes: int | None = None
    memory_args: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Called untimed with this target before it is opened at a thread count, returning the target to open: where the
    # backend is decided at that count (``backend="auto"``), the decision stays out of the load time.
    prepare: Preparer | None = None

    @classmethod
    def for_artifact(cls, given: str, art: Artifact, open: Opener, **kwargs: Any) -> MeasureTarget:
        """A target for artifact ``art`` (read from the path ``given``): label, format, backend and size come from
        them; ``kwargs`` set the rest."""
        facts: dict[str, Any] = {"label": Path(given).name, "format": art.manifest.format,
                                 "backend": art.format.backend, "task": art.manifest.task,
                                 "features": art.manifest.features, "size_bytes": art.path.stat().st_size}
        return cls(artifact=str(given), open=open, **{**facts, **kwargs})  # fmt: skip


def local_target(artifact: str, *, trust: bool = False, backend: str | None = None) -> MeasureTarget:
    """An artifact loaded in this process with ``edge_infer.load(path, threads=T)`` (``trust``: joblib/pickle;
    ``backend``: one of the backends that can run it, or ``"auto"``/None: auto's choice at each thread count, made
    untimed by ``prepare`` before loading; the result names the backend used)."""
    from edge_infer.backends import choose_backend, load
    from edge_infer.choice import is_auto, measured_choice, resolve

    art = Artifact.read(artifact)
    if is_auto(backend):
        if measured_choice(art):
            return _auto_target(artifact, art, trust)
        backend = resolve(art, None, 1).backend  # one configuration to run: nothing to decide per thread count
    chosen = choose_backend(art.format, backend, task=art.manifest.task)

    def open_(threads: int) -> Predictor:
        return load(art, threads=threads, trust=trust, backend=chosen.name)

    memory_args = ("--artifact", str(artifact), "--backend", chosen.name, *(("--trust",) if trust else ()))
    return MeasureTarget.for_artifact(artifact, art, open_, backend=chosen.name, memory_args=memory_args,
                                      extra={"verification": art.manifest.status.value})  # fmt: skip


def _auto_target(artifact: str, art: Artifact, trust: bool) -> MeasureTarget:
    """A target whose backend auto decides per thread count (``prepare``), before anything is timed."""
    from edge_infer.choice import resolve

    def prepare(given: MeasureTarget, threads: int) -> MeasureTarget:
        resolved = resolve(art, None, threads)
        made = local_target(artifact, trust=trust, backend=resolved.backend)
        auto = {} if resolved.choice is None else {"auto": {"reason": resolved.choice.reason,
                                                            "cached": resolved.choice.cached}}  # fmt: skip
        return replace(given, backend=made.backend, open=made.open, memory_args=made.memory_args,
                       extra={**given.extra, **auto}, prepare=None)  # fmt: skip

    def unprepared(threads: int) -> Predictor:
        target = MeasureTarget.for_artifact(artifact, art, unprepared)
        return prepare(target, threads).open(threads)

    return MeasureTarget.for_artifact(artifact, art, unprepared, backend="auto", prepare=prepare,
                                      extra={"verification": art.manifest.status.value})  # fmt: skip


def _http(artifact: str, *, trust: bool = False, backend: str | None = None) -> MeasureTarget:
    from edge_infer.bench.http import served_target

    return served_target(artifact, "fastapi", backend=backend)


def _flask(artifact: str, *, trust: bool = False, backend: str | None = None) -> MeasureTarget:
    from edge_infer.bench.http import served_target

    return served_target(artifact, "flask", backend=backend)


TargetFactory = Callable[..., MeasureTarget]
# How predictions travel: local (in this process), http (FastAPI shim in a subprocess on loopback), flask.
VIAS: Registry[str, TargetFactory] = Registry("via")
VIAS.register("local", local_target)
VIAS.register("http", _http)
VIAS.register("flask", _flask)


def _eager(artifact: str) -> MeasureTarget:
    from edge_infer.bench.baseline import eager_target

    return eager_target(artifact)


def _raw_session(artifact: str) -> MeasureTarget:
    from edge_infer.bench.raw import session_target

    return session_target(artifact)


# Baselines measured beside the artifacts: the source model run the usual way (PyTorch eager), and the artifact's
# model file on a bare ONNX Runtime session (the floor of what our predictor adds).
BASELINES: Registry[str, Callable[[str], MeasureTarget]] = Registry("baseline")
BASELINES.register("eager", _eager)
BASELINES.register("onnxruntime-session", _raw_session)


def make_target(artifact: str, via: str = "local", *, trust: bool = False, backend: str | None = None) -> MeasureTarget:
    """The measurement target for ``artifact`` reached through ``via``; ``trust`` allows joblib/pickle artifacts,
    ``backend`` picks one of the backends able to run it."""
    return VIAS[via](artifact, trust=trust, backend=backend)
