"""Verification of image artifacts: reload with the device runtime, compare with the eager model on real photos."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends import load
from edge_infer.manifest import Status, Verification
from edge_infer.preprocess import Preprocessor

if TYPE_CHECKING:
    from exporters.context import ExportContext
    from exporters.registry import Tolerance


def compare(outputs: np.ndarray, reference: np.ndarray, names: list[str], tolerance: Tolerance) -> Verification:
    """Max/mean |diff| and top-1 agreement of ``outputs`` against ``reference`` (both (N, classes))."""
    diff = np.abs(outputs.astype(np.float64) - reference.astype(np.float64))
    top_out, top_ref = outputs.argmax(axis=1), reference.argmax(axis=1)
    # A different top-1 whose reference score is within tie_eps of the reference top-1 is a tie, not a disagreement
    # (random-init models have near-equal logits; float reordering may pick either).
    tie_eps = 1e-6 if tolerance.max_abs_diff is None else tolerance.max_abs_diff
    rows = np.arange(len(top_out))
    ties = (top_out != top_ref) & (reference[rows, top_ref] - reference[rows, top_out] <= tie_eps)
    agree = (top_out == top_ref) | ties
    agreement = float(agree.mean()) if len(agree) else 0.0
    max_diff = float(diff.max()) if diff.size else 0.0
    ok = agreement >= tolerance.min_top1_agreement and (
        tolerance.max_abs_diff is None or max_diff <= tolerance.max_abs_diff
    )
    return Verification(
        status=Status.VERIFIED if ok else Status.FAILED,
        reference="eager fp32 (PyTorch)",
        count=len(names),
        max_abs_diff=max_diff,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        top1_agreement=agreement,
        disagreements=tuple(n for n, a in zip(names, agree) if not a),
        details={"top1_ties": int(ties.sum()),
                 "tolerance": {"max_abs_diff": tolerance.max_abs_diff,
                               "min_top1_agreement": tolerance.min_top1_agreement}},
    )  # fmt: skip


def _batch_for(artifact: Artifact, ctx: ExportContext) -> np.ndarray:
    """The verification images as the artifact's own manifest preprocesses them (the shared batch when that is the
    model's preprocessing; a channels-last file gets its channels-last batch, a uint8-pixel file the crops)."""
    own, form = artifact.manifest.preprocess, artifact.manifest.image_input
    pixels = form is not None and form.pixels
    if own is None or (own == ctx.image_spec.preprocess and not pixels):
        return ctx.verify_batch
    preprocessor = Preprocessor(own, form)  # a uint8-pixel artifact gets the crops' pixels
    return np.concatenate([preprocessor(im) for im in ctx.verify_images.values()])


def verify_images(artifact: Artifact, ctx: ExportContext, tolerance: Tolerance) -> Verification:
    """Run the artifact through ``edge_infer.load`` on the verification images (those calibration never saw)."""
    all_names = list(ctx.verify_images)
    names = ctx.holdout_names()
    if not names:
        return Verification(status=Status.SKIPPED, details={"reason": "no verification images outside the "
                                                                      "calibration set"})  # fmt: skip
    idx = [all_names.index(n) for n in names]
    batch = _batch_for(artifact, ctx)
    with load(artifact, threads=None) as predictor:
        outputs = np.concatenate([np.asarray(predictor.run(batch[i][None]), dtype=np.float32) for i in idx])
    report = compare(outputs, ctx.reference_outputs[idx], names, tolerance)
    if artifact.format.quantized:  # int8: the int8 rule, in the target's arithmetic (exporters.verification.int8)
        from exporters.verification.int8 import judge_int8

        report = judge_int8(artifact, ctx, outputs, batch, idx, names, report)
    return report.with_details(held_out_from_calibration=True) if ctx.calibration_sources else report
