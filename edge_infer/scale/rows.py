"""Result rows of a Ray job as Arrow tables: the fields of ``predict --out`` lines, one typed column each.

Ray's writers write every column on every row, so a row has every field: a successful image row has
``error = null``; an input that cannot be read has ``input`` and ``error`` and nulls elsewhere. The schema is fixed
per artifact (for tabular models the probability columns are the artifact's labels), so every block of a job, and
every part file written from it, has the same columns whatever mix of successes and errors it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from edge_infer.result import Prediction, TabularPrediction

CLASS_SCORE = pa.struct([("label", pa.string()), ("class_id", pa.int64()), ("score", pa.float64())])
TIMINGS = pa.struct([("preprocess", pa.float64()), ("inference", pa.float64()), ("total", pa.float64())])

IMAGE_SCHEMA = pa.schema(
    [
        ("input", pa.string()),
        ("label", pa.string()),
        ("class_id", pa.int64()),
        ("score", pa.float64()),
        ("top_k", pa.list_(CLASS_SCORE)),
        ("timings_ms", TIMINGS),
        ("error", pa.string()),
    ]
)


def image_row(prediction: Prediction) -> dict[str, Any]:
    """A prediction as a row: exactly ``Prediction.to_dict()`` (the ``predict --out`` line), plus ``error = None``."""
    row = prediction.to_dict()
    timings = row["timings_ms"]
    row["timings_ms"] = {k: timings.get(k) for k in ("preprocess", "inference", "total")}
    row["error"] = None
    return row


def error_row(name: str, message: str) -> dict[str, Any]:
    """An input that could not be predicted: ``{"input", "error"}`` (the other fields are null)."""
    return {"input": name, "error": message}


def image_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Image result rows -> an Arrow table of ``IMAGE_SCHEMA`` (missing fields are null)."""
    return pa.Table.from_pylist(list(rows), schema=IMAGE_SCHEMA)


def tabular_schema(labels: Sequence[str], input_fields: Sequence[pa.Field], classifier: bool) -> pa.Schema:
    """The input's own columns, then ``prediction`` (a label, or a regressor's value), ``class_id``,
    ``probabilities`` (a struct with one field per label) and ``error``."""
    prediction = pa.string() if classifier else pa.float64()
    fields = [f for f in input_fields if f.name not in ("prediction", "class_id", "probabilities", "error")]
    fields.append(pa.field("prediction", prediction))
    if classifier:
        fields.append(pa.field("class_id", pa.int64()))
        fields.append(pa.field("probabilities", pa.struct([(label, pa.float64()) for label in labels])))
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)


def tabular_result(prediction: TabularPrediction) -> dict[str, Any]:
    """A tabular prediction's fields (``TabularPrediction.to_dict()``) and ``error = None``."""
    return {**prediction.to_dict(), "error": None}
