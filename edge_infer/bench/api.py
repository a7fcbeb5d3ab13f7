"""``benchmark()``: the public function behind ``edge-infer bench``."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from edge_infer.bench.config import BenchConfig
from edge_infer.bench.engines import engine_targets, top1_agreement, with_agreement
from edge_infer.bench.frames import Frames, load_frames, load_rows
from edge_infer.bench.live import check_pace, is_video, measure_live, with_live
from edge_infer.bench.memory import probe
from edge_infer.bench.result import BenchReport, BenchResult, TargetFailure, with_ratios
from edge_infer.bench.runner import Progress, run_bench
from edge_infer.bench.target import BASELINES, VIAS, MeasureTarget, make_target
from edge_infer.errors import BackendUnavailableError, BenchError, EdgeInferError, UnknownNameError
from edge_infer.machine import load_average
from edge_infer.tasks import get_task


def _targets(
    artifacts: Sequence[str], vias: Sequence[str], baseline: Sequence[str], trust: bool = False,
    backend: str | None = None, backends: Sequence[str] | None = None,
) -> tuple[list[MeasureTarget], list[TargetFailure]]:  # fmt: skip
    targets: list[MeasureTarget] = []
    failures: list[TargetFailure] = []
    for via in vias:
        VIAS[via]  # noqa: B018 - an unknown way is a usage error (listing the valid ones), not a target failure
        if backends is not None:
            made, failed = engine_targets(artifacts, backends, via=via, trust=trust)
            targets += made
            failures += [TargetFailure(artifact=a, label=a, via=via, threads=None, error=e) for a, e in failed]
            continue
        for path in artifacts:
            try:
                targets.append(make_target(str(path), via, trust=trust, backend=backend))
            except UnknownNameError:
                raise
            except EdgeInferError as exc:
                failures.append(TargetFailure(artifact=str(path), label=str(path), via=via, threads=None,
                                              error=str(exc)))  # fmt: skip
    for name in baseline:
        make_baseline = BASELINES[name]
        seen: set[str] = set()
        for t in [t for t in targets if t.via == "local"] or targets:
            try:
                base = make_baseline(t.artifact)
            except EdgeInferError as exc:  # reported, the other artifacts may still have this baseline
                failures.append(TargetFailure(artifact=t.artifact, label=f"{name} baseline", via="local",
                                              threads=None, error=str(exc)))  # fmt: skip
                continue
            if base.label not in seen:
                seen.add(base.label)
                targets.append(base)
        if not targets:
            failures.append(TargetFailure(artifact="", label=f"{name} baseline", via="local", threads=None,
                                          error="no artifact could be read to find the source model"))  # fmt: skip
    return targets, failures


def _inputs(targets: list[MeasureTarget], source: str | None) -> Frames:
    """Frames for image models, feature rows for tabular ones; one run times one kind."""
    tabular = [t for t in targets if get_task(t.task).tabular]
    if not tabular:
        return load_frames(source)
    if len(tabular) < len(targets):
        raise BenchError("image and tabular models cannot be timed in one run (frames vs feature rows): "
                         f"bench {', '.join(t.label for t in tabular)} separately")  # fmt: skip
    specs = {t.label: t.features for t in tabular if t.features is not None}
    if len(specs) < len(tabular):
        raise BenchError("a tabular target has no feature spec in its manifest")
    if len({s.names for s in specs.values()}) > 1:
        raise BenchError(f"these tabular models take different features: {', '.join(specs)}")
    return load_rows(source, next(iter(specs.values())))


def _agreement_photos(source: str | None) -> dict[str, Any]:
    """The built-in verification photos (the export extra), else the frames of ``source``."""
    from edge_infer.build import sample_photos

    try:
        return sample_photos(extra=True)
    except BackendUnavailableError:
        return {f"frame{i}": im for i, im in enumerate(load_frames(source).images)}


def _with_memory(results: list[BenchResult], targets: list[MeasureTarget], say: Progress) -> list[BenchResult]:
    args = {(t.label, t.via): t.memory_args for t in targets}
    out = []
    for r in results:
        margs = args.get((r.label, r.via))
        if margs is None:
            out.append(r.with_memory({"method": "not measured (the model runs in another process)"}))
            continue
        say(f"memory of {r.label} alone in a fresh process ({r.threads} thread(s))")
        out.append(r.with_memory(probe(margs, r.threads, r.batch)))
    return out


def measure(
    targets: Sequence[MeasureTarget],
    config: BenchConfig | None = None,
    *,
    source: str | None = None,
    failures: Sequence[TargetFailure] = (),
    progress: Progress | None = None,
    kind: str = "latency",
    extra: Mapping[str, Any] | None = None,
    live_pace: str | None = "fast",
) -> BenchReport:
    """Time ``targets`` (any ``MeasureTarget``: an artifact, a baseline, a raw session, a server) in one
    interleaved run and return the report, with ``failures`` found before timing listed beside the run's own.
    ``benchmark()`` is this for artifact paths; benchmark scripts call it with targets of their own and put what
    they found beyond latency in ``extra`` under their ``kind``.

    When ``source`` is a video file, every target then also plays it through the live loop
    (``edge_infer.bench.live``) at ``live_pace`` (``fast``: every frame as fast as possible; ``native``: at the
    file's frame rate; None: skip): FPS, drops, capture-to-result latency, and the split of each frame's time."""
    config = config or BenchConfig()
    say = progress or (lambda _msg: None)
    if live_pace is not None:
        check_pace(live_pace)
    frames = _inputs(list(targets), source)
    before = load_average()
    run = run_bench(targets, config, frames, progress=say)
    results, live_failures = run.results, list[TargetFailure]()
    wants_live = live_pace is not None and frames.kind == "frames" and config.batch == 1  # the loop runs batch 1
    if wants_live and live_pace is not None and source is not None and is_video(source):
        live, live_failures = measure_live([t for t in targets if t.label in {r.label for r in results}], config,
                                           source, pace=live_pace, progress=say)  # fmt: skip
        results = with_live(results, live)
    after = load_average()
    if config.memory:
        results = _with_memory(results, list(targets), say)
    return BenchReport.now(
        kind=kind, config=config.to_dict(), source=frames.describe(), load_average=(before, after),
        results=with_ratios(results, config.round_size), errors=[*failures, *run.failures, *live_failures], extra=extra,
        command=" ".join(["edge-infer", *sys.argv[1:]]) if sys.argv and "edge-infer" in sys.argv[0] else "",
    )  # fmt: skip


def benchmark(
    artifacts: Sequence[str],
    config: BenchConfig | None = None,
    *,
    source: str | None = None,
    baseline: Sequence[str] = (),
    vias: Sequence[str] = ("local",),
    progress: Progress | None = None,
    trust: bool = False,
    backend: str | None = None,
    backends: Sequence[str] | None = None,
    live_pace: str | None = "fast",
) -> BenchReport:
    """Measure ``artifacts`` (and baselines) in one interleaved run. Artifacts that cannot be loaded or run are
    listed in ``report.errors``; the others are still measured. Image models get frames from ``source``, tabular
    models feature rows (``synthetic`` or a CSV file); ``trust`` allows joblib/pickle artifacts. A video ``source``
    also plays through the live loop at ``live_pace`` (see ``measure``).

    ``backend``: one backend for every artifact, or ``"auto"``/None (auto's choice per thread count, made before
    timing). ``backends`` (``["all"]`` or names; exclusive with a named ``backend``): each artifact on every engine that can run it
    (``edge_infer.bench.engines``), and each target's top-1 agreement with the fp32 reference on the real photos in
    its result's ``extra["top1_agreement"]``."""
    from edge_infer.choice import is_auto

    if not is_auto(backend) and backends is not None:
        raise BenchError("give --backend (one engine) or --backends (several), not both")
    targets, failures = _targets(artifacts, vias, baseline, trust, backend, backends)
    report = measure(targets, config, source=source, failures=failures, progress=progress, live_pace=live_pace)
    if backends is None:
        return report
    (progress or (lambda _msg: None))("top-1 agreement with the fp32 reference on the verification photos (untimed)")
    agreement = top1_agreement(targets, _agreement_photos(source))
    return replace(report, results=tuple(with_agreement(report.results, agreement)))
