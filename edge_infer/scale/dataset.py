"""``predict_dataset``: an artifact over a Ray Dataset, and the datasets ``edge-infer predict --engine ray`` reads.

    import ray, edge_infer.scale as scale
    images = ray.data.read_binary_files("s3://bucket/photos/", include_paths=True)
    results = scale.predict_dataset("lite0.onnx", images, actors=8)          # lazy: nothing runs yet
    results.filter(lambda r: r["error"] is None).write_parquet("s3://bucket/labels.parquet")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edge_infer.artifact import Artifact
from edge_infer.backends import choose_backend
from edge_infer.errors import ArtifactError, ClusterError, SpecError
from edge_infer.predictors.base import untrusted_message
from edge_infer.scale.actor import BYTES_COLUMN, PATH_COLUMN, ArtifactPredictor
from edge_infer.scale.cluster import require_ray
from edge_infer.scale.rows import error_row, image_table
from edge_infer.sources.paths import InputItem
from edge_infer.tasks import get_task
from edge_infer.threads import check_threads

if TYPE_CHECKING:
    import ray.data

DEFAULT_BATCH_SIZE = 16


def check_artifact(artifact: str | os.PathLike[str], *, backend: str | None = None, trust: bool = False) -> Artifact:
    """Everything about the artifact that can be refused before a cluster is involved: manifest and sha256, a
    backend installed here that runs it, and trust for pickle-based files."""
    art = Artifact.read(artifact)
    info = choose_backend(art.format, backend, task=art.manifest.task)
    if info.predictor_class(art.manifest.task).needs_trust and trust is not True:
        raise ArtifactError(untrusted_message(art.path, art.manifest.format))
    return art


def default_actors(threads: int) -> int:
    """One actor per ``threads`` CPUs of the cluster (at least one)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)


def actor_pool(actors: int | None, threads: int) -> Any:
    """``actors`` actors of ``threads`` CPUs (None: as many as the cluster's CPUs hold). More than the cluster holds
    now: a pool that starts with the ones that fit and grows when CPUs join (an autoscaling cluster), instead of
    a job that waits for actors that cannot start."""
    import ray.data

    fit = default_actors(threads)
    size = actors or fit
    return ray.data.ActorPoolStrategy(min_size=min(size, fit), max_size=size)


def predict_dataset(
    artifact: str | os.PathLike[str], dataset: ray.data.Dataset, *, top_k: int = 5, actors: int | None = None,
    threads: int = 1, batch_size: int = DEFAULT_BATCH_SIZE, backend: str | None = None, trust: bool = False,
    bytes_column: str = BYTES_COLUMN, path_column: str = PATH_COLUMN,
) -> ray.data.Dataset:  # fmt: skip
    """Run ``artifact`` over ``dataset`` on ``actors`` Ray actors, each loading it once with ``threads`` intra-op
    threads (and reserving as many CPUs); returns the lazy Dataset of result rows.

    Image models take a dataset of encoded images: a ``bytes_column`` (and optionally a ``path_column`` naming each
    image), as ``ray.data.read_binary_files(..., include_paths=True)`` makes. Rows have the fields of ``predict
    --out`` lines: ``input``, ``label``, ``class_id``, ``score``, ``top_k``, ``timings_ms``, ``error`` (null unless
    the image could not be used). Tabular models take one column per feature; rows keep their columns and gain
    ``prediction``, ``class_id``, ``probabilities`` and ``error``. ``actors=None``: one per ``threads`` CPUs of the
    cluster. The artifact (like the inputs) must be readable at its path on every node. ``backend`` None or ``"auto"``:
    the format's default backend (nothing is measured on the cluster).
    """
    require_ray()
    import ray

    art = check_artifact(artifact, backend=backend, trust=trust)
    # auto on a cluster: the format's default backend, named to every actor (auto's measurement is of this machine,
    # not of the cluster's nodes; docs/auto.md)
    backend = choose_backend(art.format, backend, task=art.manifest.task).name
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise SpecError(f"top_k must be at least 1, got {top_k!r}")
    threads = check_threads(threads, what="threads") or 1
    for value, what in ((actors, "actors"), (batch_size, "batch_size")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SpecError(f"{what} must be at least 1 (a whole number), got {value!r}")
    if not ray.is_initialized():
        raise ClusterError("Ray is not running in this process: call ray.init() first (or use "
                           "edge_infer.scale.ray_session())")  # fmt: skip
    get_task(art.manifest.task)
    return dataset.map_batches(
        ArtifactPredictor,
        fn_constructor_kwargs={"artifact": str(art.path), "top_k": top_k, "threads": None, "backend": backend,
                               "trust": trust, "bytes_column": bytes_column, "path_column": path_column},
        batch_size=batch_size, batch_format="pyarrow", num_cpus=threads,
        compute=actor_pool(actors, threads),
    )  # fmt: skip


def read_images(paths: Sequence[str], *, concurrency: int = 2, block_rows: int = 2 * DEFAULT_BATCH_SIZE) -> ray.data.Dataset:
    """Images and their names, from files (local paths readable on every node) or URIs Ray's filesystems read
    (``s3://``, ``gs://``, ...).

    Local files become rows of a path and null bytes (blocks of about ``block_rows``, made in the driver, metadata
    and all) that the predicting actors read themselves: no read or metadata tasks, so no worker process besides the
    actors, which on a small machine costs a few seconds of start-up each (every Ray worker imports Ray Data).
    URIs are read by ``ray.data.read_binary_files`` into encoded bytes; those reads reserve no CPU (the actors hold
    the CPUs, and a read waiting for a CPU they hold would wait forever), and at most ``concurrency`` of them run at
    once so that they do not start a worker process per task."""
    import ray.data

    local = [p for p in paths if "://" not in p]
    parts = []
    if local:
        # from_items builds the blocks and their metadata here; from_arrow would run a task per block to read
        # their metadata, which costs a Ray worker process or two, started before the first image moves
        rows = [{BYTES_COLUMN: None, PATH_COLUMN: p} for p in local]  # no bytes: the actor reads the file
        parts.append(ray.data.from_items(rows, override_num_blocks=-(-len(local) // max(1, block_rows))))
    args: dict[str, Any] = {"include_paths": True, "num_cpus": 0, "concurrency": concurrency}
    for uri in (p for p in paths if "://" in p):
        scheme = uri.split("://", 1)[0] + "://"
        ds = ray.data.read_binary_files(uri, **args)
        parts.append(ds.map_batches(_with_scheme, fn_kwargs={"scheme": scheme}, batch_format="pyarrow", num_cpus=0))
    if not parts:
        raise SpecError("no inputs to read")
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def _with_scheme(batch: Any, *, scheme: str) -> Any:
    """Ray's filesystems report ``bucket/key``; the result rows name ``s3://bucket/key``, as the user wrote it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    paths = pc.binary_join_element_wise(pa.scalar(scheme), batch.column(PATH_COLUMN), "")
    return batch.set_column(batch.schema.get_field_index(PATH_COLUMN), PATH_COLUMN, paths)


def error_rows(items: Sequence[InputItem]) -> ray.data.Dataset:
    """Inputs that could not even be listed (file not found, empty folder, pattern that matches nothing) as result
    rows, so they are written with the rest."""
    import ray.data

    return ray.data.from_arrow(image_table([error_row(i.path, i.error or "cannot be read") for i in items]))
