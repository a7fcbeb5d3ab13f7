"""``bench --backends``: one artifact on several engines, side by side, and whether they agree.

``engine_targets`` turns each artifact into one measurement target per engine (``all``: every installed backend that
runs its format and task; or the backends named), labelled ``FILE (backend)`` so the rows stay apart in one
interleaved run. ``top1_agreement`` then runs every target once more, untimed, on real photos and compares its top-1
class with the reference target's: the first fp32 artifact on its default backend (ONNX Runtime for ``.onnx``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends import get_backend, runnable_backends
from edge_infer.bench.result import BenchResult
from edge_infer.bench.target import MeasureTarget, make_target
from edge_infer.errors import BenchError, EdgeInferError

ALL = "all"
AGREEMENT_THREADS = 1  # the agreement pass is untimed; one thread keeps it off the other engineers' cores


def parse_backends(text: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"all"`` / ``"onnxruntime,openvino"`` / a sequence -> backend names (``("all",)`` for all); None stays None.
    Unknown names are refused with the valid ones listed."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(n.strip() for n in items if n.strip()))
    if not names:
        raise BenchError("--backends needs 'all' or comma-separated backend names, e.g. onnxruntime,openvino")
    if ALL in names:
        return (ALL,)
    for name in names:
        get_backend(name)  # UnknownNameError lists the valid ones
    return names


def engines_for(art: Artifact, backends: Sequence[str]) -> list[str]:
    """The backends ``art`` is measured on: the installed ones able to run it (``all``), or those of ``backends``
    that can (a named backend that is not installed is kept, so its one-line error is reported)."""
    able = runnable_backends(art.format, art.manifest.task)
    if tuple(backends) == (ALL,):
        return able
    fmt_backends = [b for b in art.format.backends if art.manifest.task in get_backend(b).predictors]
    return [b for b in backends if b in fmt_backends]


def engine_targets(
    artifacts: Sequence[str], backends: Sequence[str], *, via: str = "local", trust: bool = False
) -> tuple[list[MeasureTarget], list[tuple[str, str]]]:
    """One target per artifact and engine; ``(artifact, error)`` for those that cannot be made."""
    targets: list[MeasureTarget] = []
    failures: list[tuple[str, str]] = []
    for path in artifacts:
        try:
            art = Artifact.read(path)
            engines = engines_for(art, backends)
            if not engines:
                raise BenchError(f"{path}: none of the backends {', '.join(backends)} can run {art.format.name} "
                                 f"artifacts (backends that can: {', '.join(art.format.backends)})")  # fmt: skip
            for name in engines:
                t = make_target(str(path), via, trust=trust, backend=name)
                targets.append(replace(t, label=f"{Path(path).name} ({name})"))
        except EdgeInferError as exc:
            failures.append((str(path), str(exc)))
    return targets, failures


def _reference(targets: Sequence[MeasureTarget]) -> MeasureTarget | None:
    """The first fp32 artifact target on its format's default backend (else the first fp32 artifact target)."""
    from edge_infer.formats import FORMATS

    fp32 = [t for t in targets if t.format in FORMATS and not FORMATS[t.format].quantized]
    default = [t for t in fp32 if t.backend == FORMATS[t.format].backend]
    return next(iter(default or fp32), None)


def _top1(target: MeasureTarget, images: Sequence[np.ndarray]) -> np.ndarray:
    with target.open(AGREEMENT_THREADS) as p:
        return np.array([int(np.argmax(p.scores(p.run(p.preprocess(im)))[0])) for im in images])


def top1_agreement(targets: Sequence[MeasureTarget], photos: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """label -> ``{"reference", "value", "photos", "disagreements"}``: the share of ``photos`` on which each target's
    top-1 class is the reference target's (image models only). Targets that fail here get ``{"error": ...}``."""
    from edge_infer.tasks import get_task

    targets = [t for t in targets if not get_task(t.task).tabular]
    ref = _reference(targets)
    if ref is None or not photos:
        return {}
    names, images = list(photos), list(photos.values())
    want = _top1(ref, images)
    ref_name = f"{ref.format} ({ref.backend})"
    out: dict[str, dict[str, Any]] = {}
    for t in targets:
        try:
            got = want if t is ref else _top1(t, images)
        except Exception as exc:  # reported beside the timing, never fatal
            out[t.label] = {"reference": ref_name, "error": str(exc).splitlines()[0] if str(exc) else repr(exc)}
            continue
        same = got == want
        out[t.label] = {"reference": ref_name, "value": round(float(same.mean()), 4), "photos": len(names),
                        "disagreements": [n for n, ok in zip(names, same) if not ok]}  # fmt: skip
    return out


def with_agreement(results: Sequence[BenchResult], agreement: dict[str, dict[str, Any]]) -> list[BenchResult]:
    """The results with their target's agreement in ``extra["top1_agreement"]``."""
    return [replace(r, extra={**r.extra, "top1_agreement": agreement[r.label]}) if r.label in agreement else r
            for r in results]  # fmt: skip
