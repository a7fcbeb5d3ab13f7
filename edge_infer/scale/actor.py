"""``ArtifactPredictor``: the callable class Ray Data runs in each actor (``Dataset.map_batches``).

The actor loads the artifact once, with as many intra-op threads as Ray gave it CPUs, and turns each batch into
result rows (``edge_infer.scale.rows``). Image batches carry encoded images (a binary column, as
``ray.data.read_binary_files`` gives them) and, optionally, their names, or only the paths of local files, which
the actor reads itself (no read tasks, so no worker processes besides the actors); tabular batches carry one column
per feature. An input that cannot be used becomes a row with its ``error``: a bad image never fails the batch or the job.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from edge_infer.errors import EdgeInferError, InputError
from edge_infer.predictors import ImageClassifier, Predictor, TabularPredictor
from edge_infer.scale.rows import error_row, image_row, image_table, tabular_result, tabular_schema

BYTES_COLUMN = "bytes"
PATH_COLUMN = "path"


def actor_cpus() -> int:
    """The CPUs Ray assigned to this actor (at least 1): its intra-op threads."""
    import ray

    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    except Exception:  # outside an actor (a plain call in a test): one thread  # noqa: BLE001
        cpus = 1.0
    return max(1, int(round(cpus)))


class ArtifactPredictor:
    """Loads ``artifact`` once per actor; ``__call__`` maps an Arrow batch to an Arrow table of result rows.

    ``threads=None``: the CPUs Ray assigned to the actor. ``bytes_column``/``path_column`` name the image batch's
    encoded images and their names (the input field of each row); a row with a path and no bytes (null, or no bytes
    column) names a local file, read here (a missing or unreadable file becomes an error row).
    """

    def __init__(
        self, artifact: str, *, top_k: int = 5, threads: int | None = None, backend: str | None = None,
        trust: bool = False, bytes_column: str = BYTES_COLUMN, path_column: str = PATH_COLUMN,
    ) -> None:  # fmt: skip
        from edge_infer.backends import load

        self.top_k = top_k
        self.bytes_column = bytes_column
        self.path_column = path_column
        self.predictor: Predictor = load(artifact, threads=threads or actor_cpus(), backend=backend, trust=trust)

    def __call__(self, batch: pa.Table) -> pa.Table:
        if isinstance(self.predictor, ImageClassifier):
            return self._images(self.predictor, batch)
        if isinstance(self.predictor, TabularPredictor):
            return self._rows(self.predictor, batch)
        raise EdgeInferError(f"{self.predictor.where}: {type(self.predictor).__name__} is neither an image nor a "
                             "tabular predictor")  # fmt: skip

    # -- images --------------------------------------------------------------------------------------------------
    def _images(self, p: ImageClassifier, batch: pa.Table) -> pa.Table:
        columns = batch.column_names
        if self.bytes_column not in columns and self.path_column not in columns:
            raise InputError(f"image batches need a {self.bytes_column!r} column of encoded images (as "
                             f"ray.data.read_binary_files gives) or a {self.path_column!r} column of local files, "
                             f"got columns {columns}")  # fmt: skip
        n = batch.num_rows
        names: list[Any] = batch.column(self.path_column).to_pylist() if self.path_column in columns else [None] * n
        blobs: list[Any] = batch.column(self.bytes_column).to_pylist() if self.bytes_column in columns else [None] * n
        # a row without bytes names a local file: read here (load_image reads a path, with its checks)
        blobs = [name if data is None and name is not None else data for name, data in zip(names, blobs)]
        return image_table(predict_images(p, names, blobs, self.top_k))

    # -- feature rows --------------------------------------------------------------------------------------------
    def _rows(self, p: TabularPredictor, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        schema = tabular_schema(p.labels, list(batch.schema), p.is_classifier)
        good, arrays = [], []
        for i, row in enumerate(rows):
            try:
                arrays.append(p.features.row_array({n: row.get(n) for n in p.features.names}))
                good.append(i)
            except InputError as exc:
                row.update({"error": str(exc)})
        if arrays:
            for i, pred in zip(good, p.predict_rows(np.stack(arrays), top_k=None)):
                rows[i].update(tabular_result(pred))
        return pa.Table.from_pylist(rows, schema=schema)


def predict_images(p: ImageClassifier, names: list[Any], blobs: list[Any], top_k: int) -> list[dict[str, Any]]:
    """Decode and preprocess each image on its own (a bad one becomes an error row), run the good ones in one model
    call (chunked if the model has a fixed batch); per-image timings: its own preprocessing, its share of the call."""
    rows: list[dict[str, Any]] = [{} for _ in blobs]
    xs, good, pre_ms = [], [], []
    for i, (name, data) in enumerate(zip(names, blobs)):
        label = name if name is not None else f"<row {i}>"
        t0 = time.perf_counter()
        try:
            if data is None:
                raise InputError(f"{label}: no image data")
            xs.append(p.preprocess(data, name=label))
        except EdgeInferError as exc:
            rows[i] = error_row(label, str(exc))
            continue
        pre_ms.append((time.perf_counter() - t0) * 1e3)
        good.append(i)
    if xs:
        t1 = time.perf_counter()
        step = p.max_batch or len(xs)
        raws = [p.run(np.concatenate(xs[j : j + step])) for j in range(0, len(xs), step)]
        infer_ms = (time.perf_counter() - t1) * 1e3 / len(xs)
        for i, probs, pre in zip(good, p.scores(np.concatenate(raws)), pre_ms):
            timings = {"preprocess": pre, "inference": infer_ms, "total": pre + infer_ms}
            rows[i] = image_row(p.to_prediction(probs, top_k, timings, names[i]))
    return rows
