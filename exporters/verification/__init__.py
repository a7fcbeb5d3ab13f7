"""Verification: reload an exported artifact with the device runtime and compare it with its reference.

One verifier per kind of model (``VERIFIERS``): images against the eager PyTorch model on real photos
(``images``), feature rows against scikit-learn (``rows``). Checks an exporter runs itself (the labelled digits
accuracy of an int8 recipe, ``digits``) are merged into the same ``Verification`` report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edge_infer.artifact import Artifact
from edge_infer.errors import EdgeInferError
from edge_infer.manifest import Status, Verification
from edge_infer.registry import Registry
from edge_infer.tasks import InputKind, get_task
from exporters.verification.images import verify_images
from exporters.verification.rows import verify_rows

if TYPE_CHECKING:
    from exporters.context import ExportContext
    from exporters.registry import Tolerance

Verifier = Callable[[Artifact, "ExportContext", "Tolerance"], Verification]
VERIFIERS: Registry[InputKind, Verifier] = Registry("verifier")
VERIFIERS.register("image", verify_images)
VERIFIERS.register("features", verify_rows)


def verify(
    artifact: Artifact, ctx: ExportContext, tolerance: Tolerance, *, extra: Mapping[str, Any] | None = None
) -> Verification:
    """The artifact's verification report: the comparison with its reference, plus the exporter's own checks in
    ``extra`` (its ``status: failed`` and ``error`` fail the artifact). A check that cannot run is a failure that
    says why."""
    try:
        report = VERIFIERS[get_task(ctx.spec.task).takes](artifact, ctx, tolerance)
    except EdgeInferError as exc:
        report = Verification(status=Status.FAILED, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a library failure while checking: the artifact is not verified
        report = Verification(status=Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    extra = dict(extra or {})
    drop = (extra.get("labelled_accuracy") or {}).get("drop_points")
    if drop is not None and report.details.get("by_arithmetic"):  # the int8 rule's labelled check (c)
        from exporters.verification.int8 import with_digits

        report = with_digits(report, float(drop))
        extra.pop("status", None), extra.pop("error", None)  # judged by the rule now
    status, error, note = extra.pop("status", None), extra.pop("error", None), extra.pop("note", None)
    if status is not None and Status.parse(status) is Status.FAILED:
        report = replace(report, status=Status.FAILED)
    if error and not report.error:
        report = replace(report, error=str(error))
    if note:
        report = replace(report, note=f"{report.note}; {note}" if report.note else str(note))
    return report.with_details(**extra) if extra else report


__all__ = ["VERIFIERS", "verify", "verify_images", "verify_rows"]
