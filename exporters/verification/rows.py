"""Verification of tabular artifacts: reload with the device runtime, compare with scikit-learn on the given rows."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends import load
from edge_infer.errors import VerificationError
from edge_infer.manifest import Status, Verification
from edge_infer.predictors import TabularPredictor
from edge_infer.tasks import TABULAR_CLASSIFICATION

if TYPE_CHECKING:
    from exporters.context import ExportContext
    from exporters.registry import Tolerance
    from exporters.tabular import TabularSpec

PROB_TOLERANCE = 1e-4  # max |diff| of class probabilities (ONNX computes in float32)
REG_TOLERANCE = 1e-4  # max |diff| of regression outputs, relative to max(1, max |reference|)


def verify_rows(artifact: Artifact, ctx: ExportContext, tolerance: Tolerance) -> Verification:
    """The tabular verifier of ``exporters.verification``: ``ctx.spec`` is a TabularSpec."""
    from exporters.tabular import TabularSpec

    if not isinstance(ctx.spec, TabularSpec):
        raise VerificationError(f"{artifact.path}: not a tabular model")
    return verify_tabular(artifact, ctx.spec)


def verify_tabular(artifact: Artifact, spec: TabularSpec) -> Verification:
    """Reload with the device runtime and compare with scikit-learn on ``spec.X``: max |diff| and agreement."""
    est = spec.estimator
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        ref_values = np.asarray(est.predict(spec.X)).reshape(-1)
        ref_probs = np.asarray(est.predict_proba(spec.X)) if spec.task == TABULAR_CLASSIFICATION else None
    with load(artifact, threads=1, trust=True) as predictor:  # trusted: this process wrote the file just now
        if not isinstance(predictor, TabularPredictor):
            raise VerificationError(f"{artifact.path}: loaded as {type(predictor).__name__}, not a tabular model")
        x, _ = predictor.validate(spec.X)
        out = predictor.run(x)
        preds = predictor.predict_rows(x)
    reference = f"scikit-learn {type(est).__name__} on {spec.data_note}"
    if ref_probs is None:
        diff = float(np.max(np.abs(out - ref_values.astype(np.float64))))
        tol = REG_TOLERANCE * max(1.0, float(np.max(np.abs(ref_values))))
        return Verification(status=Status.VERIFIED if diff <= tol else Status.FAILED, reference=reference,
                            count=len(x), unit="rows", max_abs_diff=diff, details={"tolerance": tol})  # fmt: skip
    index = {str(c): i for i, c in enumerate(spec.classes)}
    ref_ids = np.array([index[str(v.item() if isinstance(v, np.generic) else v)] for v in ref_values])
    ids = np.array([p.class_id for p in preds])
    diff = float(np.max(np.abs(out - ref_probs)))
    top2 = np.sort(ref_probs, axis=1)[:, -2:] if ref_probs.shape[1] > 1 else np.zeros((len(x), 2))
    near_tie = (top2[:, 1] - top2[:, 0]) <= PROB_TOLERANCE
    disagree = np.flatnonzero(ids != ref_ids)
    real = [int(i) for i in disagree if not near_tie[i]]
    ok = diff <= PROB_TOLERANCE and not real
    return Verification(
        status=Status.VERIFIED if ok else Status.FAILED, reference=reference, count=len(x), unit="rows",
        max_abs_diff=diff, top1_agreement=float(np.mean(ids == ref_ids)),
        disagreements=tuple(f"row {int(i) + 1}" for i in disagree[:20]),
        details={"tolerance": PROB_TOLERANCE, "disagreements_at_ties": len(disagree) - len(real)},
    )  # fmt: skip
