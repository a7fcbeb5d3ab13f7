"""The measurement behind ``backend="auto"`` and ``edge-infer bench BUNDLE --pick``.

``measure_candidates`` times every candidate configuration (``edge_infer.choice.Candidate``) with the bench core, in
one interleaved run with the reference: 5 warm-up calls, 40 timed model calls in rounds of 5, the paired per-round
ratio of each p50 to the reference's. While loading (untimed for the decision), each candidate also classifies a few
real photos (the built-in samples; synthetic frames without the export extra); a float candidate whose probabilities
differ from the reference's by more than ``MAX_PROB_DIFF`` is rejected. Each candidate's load time (in this process, with that check) is recorded and shown,
not weighed. ``pick`` makes the choice for a path, and
``format_choice`` draws it as a table, like ``bench``'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.bench.config import BenchConfig
from edge_infer.bench.frames import Frames, load_frames, load_rows
from edge_infer.bench.result import paired_ratio
from edge_infer.bench.runner import Progress, run_bench
from edge_infer.bench.target import MeasureTarget
from edge_infer.choice import Candidate, Choice, Measured, artifacts_at, choose
from edge_infer.errors import EdgeInferError
from edge_infer.predictors import Predictor
from edge_infer.table import render
from edge_infer.tasks import get_task

WARMUP, RUNS, ROUND = 5, 40, 5
MAX_PROB_DIFF = 1e-3  # largest |probability difference| from the reference a float candidate may show
CHECK_IMAGES = 4


def _check_inputs(art: Artifact) -> Frames:
    """Real photos to compare outputs on (the built-in samples), else synthetic frames; feature rows for tabular."""
    if get_task(art.manifest.task).tabular and art.manifest.features is not None:
        return load_rows(None, art.manifest.features, count=CHECK_IMAGES)
    try:
        return load_frames("samples", count=CHECK_IMAGES)
    except EdgeInferError:  # no export extra on this device: the same synthetic frames on every machine
        return load_frames(None, count=CHECK_IMAGES)


def _target(c: Candidate, art: Artifact, inputs: Frames, outputs: dict[Candidate, np.ndarray]) -> MeasureTarget:
    def open_(threads: int) -> Predictor:
        from edge_infer.backends import load

        p = load(art, backend=c.backend, threads=threads)
        try:
            outputs[c] = np.concatenate([np.asarray(p.scores(p.run(p.preprocess(x))), dtype=np.float64)
                                         for x in inputs.images])  # fmt: skip
        except BaseException:
            p.close()
            raise
        return p

    return MeasureTarget.for_artifact(str(c.path), art, open_, label=c.label, backend=c.backend)


def measure_candidates(
    cands: Sequence[Candidate], reference: Candidate, threads: int, *, progress: Progress | None = None
) -> list[Measured]:
    """Every candidate timed beside ``reference`` (one of them) at ``threads``, interleaved; failures are kept as
    ``Measured(error=...)``, and a float candidate that disagrees with the reference gets an error too."""
    arts = {c.path: Artifact.read(c.path, check_sha256=False) for c in cands}  # read (and checked) just before
    inputs = _check_inputs(arts[reference.path])
    outputs: dict[Candidate, np.ndarray] = {}
    ordered = [reference, *[c for c in cands if c != reference]]
    targets = [_target(c, arts[c.path], inputs, outputs) for c in ordered]
    config = BenchConfig(warmup=WARMUP, runs=RUNS, round_size=ROUND, threads=(threads,), e2e=False, memory=False)
    run = run_bench(targets, config, inputs, progress=progress)
    by_label = {r.label: r for r in run.results}
    failed = {f.label: f.error for f in run.failures}
    ref_result = by_label.get(reference.label)
    want = outputs.get(reference)
    out = []
    for c in ordered:
        r = by_label.get(c.label)
        if r is None:
            out.append(Measured(candidate=c, error=failed.get(c.label, "not measured")))
            continue
        got = outputs.get(c)
        diff = None if want is None or got is None or got.shape != want.shape else float(np.abs(got - want).max())
        ratio = None if ref_result is None else (1.0 if c == reference else paired_ratio(
            r.samples_ms, ref_result.samples_ms, ROUND))  # fmt: skip
        error = None
        if not c.quantized and c != reference and (diff is None or diff > MAX_PROB_DIFF):
            error = (f"outputs differ from {reference.label}'s (max |probability diff| "
                     f"{'?' if diff is None else f'{diff:.2g}'} > {MAX_PROB_DIFF:g})")  # fmt: skip
        lat = r.latency
        out.append(Measured(candidate=c, p50_ms=lat.p50, p90_ms=lat.p90, ratio=ratio, max_prob_diff=diff,
                            load_ms=r.load_ms, runs=lat.n, error=error))  # fmt: skip
    return out


def pick(
    path: str | os.PathLike[str], threads: int | None = None, *, refresh: bool = False,
    progress: Progress | None = None,
) -> Choice:  # fmt: skip
    """The choice auto makes for the artifact or bundle at ``path`` (measured now if not cached, or ``refresh``)."""
    arts, rejected = artifacts_at(path)

    def measure(cands: Sequence[Candidate], reference: Candidate, n: int) -> list[Measured]:
        return measure_candidates(cands, reference, n, progress=progress)

    return choose(arts, threads, refresh=refresh, measure=measure, rejected=rejected)


def format_choice(choice: Choice) -> str:
    """The choice as a table: every candidate measured (p50, p90, ratio to the reference, probability difference),
    the one chosen marked, then what was not considered and why."""
    head = (f"auto choice, {choice.threads} thread(s)" + (" (cached " + choice.created + ")" if choice.cached else ""))
    rows = []
    for m in choice.measured:
        c = m.candidate
        mark = "->" if (c.sha256, c.backend) == (choice.sha256, choice.backend) else ""
        ref = " (reference)" if c.label == choice.reference else ""
        rows.append([mark, c.path.name, c.backend, c.format, _f(m.p50_ms, 2), _f(m.p90_ms, 2), _f(m.ratio, 3),
                     "" if m.max_prob_diff is None else f"{m.max_prob_diff:.1e}", _f(m.load_ms, 0),
                     (m.error or "") + ref])  # fmt: skip
    lines = [head]
    if rows:
        lines.append(render(["", "artifact", "backend", "format", "p50 ms", "p90 ms", "ratio", "max |dp|", "load ms",
                             "note"], rows, align="llllrrrrrl"))  # fmt: skip
    lines.append(f"chosen: {choice.path.name} on {choice.backend}: {choice.reason}")
    lines += [f"  not considered: {r.what}: {r.reason}" for r in choice.rejected]
    return "\n".join(lines)


def _f(x: float | None, nd: int) -> str:
    return "" if x is None else f"{x:.{nd}f}"
