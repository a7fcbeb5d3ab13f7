"""Verification of tabular artifacts: reload with the device runtime, compare with scikit-learn on the given rows."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends.tabular import CLASSIFICATION

if TYPE_CHECKING:
    from exporters.tabular import TabularSpec

PROB_TOLERANCE = 1e-4  # max |diff| of class probabilities (ONNX computes in float32)
REG_TOLERANCE = 1e-4  # max |diff| of regression outputs, relative to max(1, max |reference|)


def verify_tabular(artifact: Artifact, spec: TabularSpec) -> dict[str, Any]:
    """Reload with the device runtime and compare with scikit-learn on ``spec.X``: max |diff| and agreement."""
    from edge_infer.runtime import load

    est = spec.estimator
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        ref_values = np.asarray(est.predict(spec.X)).reshape(-1)
        ref_probs = np.asarray(est.predict_proba(spec.X)) if spec.task == CLASSIFICATION else None
    with load(artifact, threads=1, trust=True) as predictor:  # trusted: this process wrote the file just now
        x, _ = predictor.validate(spec.X)  # type: ignore[attr-defined]
        out = predictor.run(x)
        preds = predictor.predict_rows(x)  # type: ignore[attr-defined]
    report: dict[str, Any] = {"reference": f"scikit-learn {type(est).__name__} on {spec.data_note}", "rows": len(x)}
    if ref_probs is None:
        diff = float(np.max(np.abs(out - ref_values.astype(np.float64))))
        tol = REG_TOLERANCE * max(1.0, float(np.max(np.abs(ref_values))))
        report.update(max_abs_diff=diff, tolerance=tol)
        report["status"] = "verified" if diff <= tol else "failed"
        return report
    index = {str(c): i for i, c in enumerate(spec.classes)}
    ref_ids = np.array([index[str(v.item() if isinstance(v, np.generic) else v)] for v in ref_values])
    ids = np.array([p.class_id for p in preds])
    diff = float(np.max(np.abs(out - ref_probs)))
    top2 = np.sort(ref_probs, axis=1)[:, -2:] if ref_probs.shape[1] > 1 else np.zeros((len(x), 2))
    near_tie = (top2[:, 1] - top2[:, 0]) <= PROB_TOLERANCE
    disagree = np.flatnonzero(ids != ref_ids)
    real = [int(i) for i in disagree if not near_tie[i]]
    report.update(
        max_abs_diff=diff,
        top1_agreement=float(np.mean(ids == ref_ids)),
        tolerance=PROB_TOLERANCE,
        disagreeing_rows=[int(i) for i in disagree[:20]],
        disagreements_at_ties=len(disagree) - len(real),
    )
    report["status"] = "verified" if diff <= PROB_TOLERANCE and not real else "failed"
    return report
