"""What the Ray tests share: the check that a Ray job's rows are the local run's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import edge_infer as ei
from edge_infer.batch import input_key, predict_record
from edge_infer.sources.paths import expand_inputs


def assert_rows_match_local(rows: dict[str, dict[str, Any]], artifact: Path, inputs: Sequence[str], n: int) -> None:
    """Every input's row equals the local run's (labels equal, scores within 1e-5, the same errors). The local run
    is pinned to the backend a Ray job uses (the format's default: `auto` is not measured on a cluster)."""
    with ei.load(artifact, backend="onnxruntime") as local:
        expected = [predict_record(local, item, 3) for item in expand_inputs(inputs)]  # type: ignore[arg-type]
    assert len(rows) == len(expected) == n
    for want in expected:
        got = rows[input_key(want["input"])]
        if "error" in want:
            assert got["error"] == want["error"] and got["label"] is None
            continue
        assert got["error"] is None and got["label"] == want["label"] and got["class_id"] == want["class_id"]
        assert [c["label"] for c in got["top_k"]] == [c["label"] for c in want["top_k"]]
        assert np.allclose([c["score"] for c in got["top_k"]], [c["score"] for c in want["top_k"]], atol=1e-5)
        assert set(got["timings_ms"]) == {"preprocess", "inference", "total"}
