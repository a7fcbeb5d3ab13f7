"""``load()``: the device-side front door. Picks the backend from the manifest's format, never the file suffix."""

from __future__ import annotations

import os
from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.backends import BACKENDS, Predictor, backend_class
from edge_infer.bundle import engine_problem
from edge_infer.errors import ArtifactError


def load(
    path: str | os.PathLike[str] | Artifact, *, threads: int | None = None, trust: bool = False, **options: Any
) -> Predictor:
    """Load an artifact (model file or its manifest) and return a ready Predictor.

    The model file's sha256 must match its manifest. ``threads`` sets the backend's intra-op threads
    (default: the cores this process may use). ``trust=True`` is required to load pickle-based artifacts
    (joblib), which run code while loading; formats that run no code at load time ignore it.
    """
    artifact = path if isinstance(path, Artifact) else Artifact.read(path)
    problem = engine_problem(artifact.manifest, where=str(artifact.path))  # int8 built for another CPU's engine
    if problem:
        raise ArtifactError(problem)
    backend = artifact.format.backend
    task_specific = f"{backend}:{artifact.manifest.task}"
    cls = backend_class(task_specific if task_specific in BACKENDS else backend)
    if getattr(cls, "accepts_trust", False):
        options["trust"] = trust
    return cls(artifact, threads=threads, **options)
