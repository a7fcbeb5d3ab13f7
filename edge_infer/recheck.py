"""Re-check an int8 artifact on a device whose int8 arithmetic its manifest has no verdict for.

An int8 verdict holds for the arithmetic it was computed in (``edge_infer.arithmetic``). When ``load()`` runs an
int8 artifact on a device that computes another (an AVX2 laptop without VNNI running a file judged for a Raspberry
Pi 5), it first runs the model on the bundle's sample photos and compares with fp32's answers recorded in the
manifest (``verification.recheck``), with the thresholds of the int8 rule (``Int8Rule.for_recheck``). A pass is
remembered per artifact sha256, arithmetic and backend for the life of the process. A failure raises
``VerificationError`` naming what to use instead; no sample photos to re-check with is an ``Int8RecheckWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_infer.errors import EdgeInferError, VerificationError
from edge_infer.int8_rule import DEFAULT_RULE, RuleVerdict

if TYPE_CHECKING:
    from edge_infer.artifact import Artifact
    from edge_infer.predictors import Predictor

RECHECK = "recheck"  # the key of the fp32 answers on the sample photos in the manifest's verification section
RECHECK_TOP = 10  # how many of fp32's top logits are recorded per photo
SAMPLE_DIRS = ("samples", "../samples")  # where a bundle keeps its sample photos, relative to the artifact
_PASSED: dict[tuple[str, str, str], RuleVerdict] = {}


class Int8RecheckWarning(UserWarning):
    """An int8 artifact runs in an arithmetic it was not judged in, and could not be re-checked here."""


def sample_photos(artifact_path: Path, recorded: Mapping[str, Any]) -> dict[str, Path]:
    """The recorded sample photos found beside the artifact (a bundle's ``samples/``), by name."""
    found: dict[str, Path] = {}
    for rel in SAMPLE_DIRS:
        folder = (artifact_path.parent / rel).resolve()
        for name in recorded:
            if name not in found and (folder / name).is_file():
                found[name] = folder / name
    return found


def recheck(predictor: Predictor, artifact: Artifact) -> RuleVerdict | None:
    """Judge ``predictor`` (running the int8 ``artifact``) on the sample photos against fp32's recorded answers (None: nothing to
    re-check with)."""
    from edge_infer.images import read_path
    from edge_infer.manifest import sha256_file
    from edge_infer.preprocess import Preprocessor

    manifest = artifact.manifest
    data = manifest.verification.details.get(RECHECK)
    recorded = data.get("photos") if isinstance(data, Mapping) else None
    if not isinstance(recorded, Mapping) or manifest.preprocess is None:
        return None
    photos = {n: p for n, p in sample_photos(artifact.path, recorded).items()
              if sha256_file(p) == recorded[n].get("sha256")}  # fmt: skip
    if not photos:
        return None
    pre = Preprocessor(manifest.preprocess)
    names = sorted(photos)
    outputs = np.concatenate([np.asarray(predictor.run(pre(read_path(photos[n]))), dtype=np.float64) for n in names])
    reference = np.zeros_like(outputs)
    for i, name in enumerate(names):  # fp32's top-1 with its probability: all the rule needs of the reference
        reference[i, int(recorded[name]["top"][0])] = float(recorded[name]["top1_probability"])
    return DEFAULT_RULE.for_recheck().judge(reference, outputs, names, reference_kind="probabilities")


def check_on_load(predictor: Predictor, artifact: Artifact, backend: str) -> None:
    """The ``load()`` hook: re-check an int8 artifact when this device's arithmetic has no recorded verdict."""
    from edge_infer.arithmetic import verification_here

    manifest = artifact.manifest
    if not artifact.format.quantized:
        return
    here = verification_here(manifest, backend)
    if not here.needs_recheck:
        return
    key = (manifest.sha256, str(here.arithmetic), backend)
    if key in _PASSED:
        return
    try:
        verdict = recheck(predictor, artifact)
    except EdgeInferError:
        predictor.close()
        raise
    name = artifact.path.name
    if verdict is None:
        warnings.warn(Int8RecheckWarning(f"{name}: {here.reason}; no sample photos beside it to re-check with, so "
                                         "its answers here are not verified"), stacklevel=3)  # fmt: skip
        return
    if not verdict.passed:
        predictor.close()
        raise VerificationError(f"{name}: {here.reason}, and re-checked here on {verdict.images} sample photos it "
                                f"fails the int8 rule ({verdict.reason}); use the fp32 artifact, or export for this "
                                "device (edge-infer doctor names its target)")  # fmt: skip
    _PASSED[key] = verdict


__all__ = ["Int8RecheckWarning", "check_on_load", "recheck", "sample_photos"]
