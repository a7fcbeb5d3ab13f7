"""The measurement loop: load, cold run, warm-up, then interleaved rounds over every target.

Per thread count, every target is loaded (timed), run once (the cold, first-inference latency) and warmed up; then
targets take turns, ``round_size`` model-only runs and as many end-to-end runs each, the starting target rotating
every round. Slow drifts on a busy machine (another process, thermal throttling) then hit every target alike, so
ratios between targets hold even when absolute times move. The garbage collector is paused while timing.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import numpy as np

from edge_infer.bench.config import BenchConfig
from edge_infer.bench.frames import Frames
from edge_infer.bench.result import BenchResult, TargetFailure
from edge_infer.bench.target import MeasureTarget
from edge_infer.errors import BenchError, EdgeInferError
from edge_infer.predictors import Predictor

Progress = Callable[[str], None]


@dataclass
class _Live:
    """A loaded target while it is being measured."""

    target: MeasureTarget
    predictor: Predictor
    x: np.ndarray
    load_ms: float
    cold_ms: float
    warmup: list[float] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    e2e: list[float] = field(default_factory=list)
    pre: list[float] = field(default_factory=list)
    rounds: int = 0
    frame_i: int = 0


@dataclass
class BenchRun:
    """What ``run_bench`` measured: results, failures, and the order chunks ran in (label, threads, round)."""

    results: list[BenchResult]
    failures: list[TargetFailure]
    trace: list[tuple[str, int, int]]


def round_order(n_targets: int, round_index: int) -> list[int]:
    """Target indices in round ``round_index``: rotated by one each round, so none always follows the same one."""
    return [(round_index + i) % n_targets for i in range(n_targets)]


def _ms(t0: float, t1: float) -> float:
    return (t1 - t0) * 1e3


def _batch(predictor: Predictor, frames: Frames, start: int, batch: int) -> np.ndarray:
    images = frames.images
    xs = [predictor.preprocess(images[(start + j) % len(images)]) for j in range(batch)]
    return xs[0] if batch == 1 else np.concatenate(xs)


def _postprocess(predictor: Predictor, raw: np.ndarray) -> np.ndarray:
    return np.argmax(predictor.scores(raw), axis=-1)


def _open(target: MeasureTarget, threads: int, config: BenchConfig, frames: Frames) -> _Live:
    t0 = time.perf_counter()
    predictor = target.open(threads)
    load_ms = _ms(t0, time.perf_counter())
    opened = False
    try:
        max_batch = predictor.max_batch
        if max_batch is not None and config.batch > max_batch:
            raise BenchError(f"batch {config.batch} is larger than this model accepts ({max_batch})")
        x = _batch(predictor, frames, 0, config.batch)
        t0 = time.perf_counter()
        predictor.run(x)
        cold_ms = _ms(t0, time.perf_counter())
        live = _Live(target, predictor, x, load_ms, cold_ms)
        for _ in range(config.warmup):
            t0 = time.perf_counter()
            predictor.run(x)
            live.warmup.append(_ms(t0, time.perf_counter()))
        opened = True
    finally:
        if not opened:
            predictor.close()
    return live


def _chunk(live: _Live, n: int, config: BenchConfig, frames: Frames) -> None:
    p, x = live.predictor, live.x
    live.rounds += 1
    for _ in range(n):
        t0 = time.perf_counter()
        p.run(x)
        live.samples.append(_ms(t0, time.perf_counter()))
    if not config.e2e:
        return
    for _ in range(n):
        t0 = time.perf_counter()
        xb = _batch(p, frames, live.frame_i, config.batch)
        t1 = time.perf_counter()
        _postprocess(p, p.run(xb))
        t2 = time.perf_counter()
        live.pre.append(_ms(t0, t1))
        live.e2e.append(_ms(t0, t2))
        live.frame_i += config.batch


def _failure(target: MeasureTarget, threads: int | None, exc: BaseException) -> TargetFailure:
    msg = str(exc) if isinstance(exc, EdgeInferError) else f"{type(exc).__name__}: {exc}"
    return TargetFailure(artifact=target.artifact, label=target.label, via=target.via, threads=threads, error=msg)


def _rounds(
    lives: list[_Live], threads: int, config: BenchConfig, frames: Frames,
    trace: list[tuple[str, int, int]], failures: list[TargetFailure],
) -> None:  # fmt: skip
    planned = math.ceil(config.runs / config.round_size) if config.runs is not None else None
    deadline = time.perf_counter() + (config.duration_s or 0.0)
    r = 0
    gc.collect()
    gc.disable()
    try:
        while lives and (r < planned if planned is not None else (r == 0 or time.perf_counter() < deadline)):
            n = config.round_size
            if config.runs is not None:
                n = min(n, config.runs - r * config.round_size)
            settle = config.settle_ms / 1e3 if threads > 1 and len(lives) > 1 else 0.0
            for i in round_order(len(lives), r):
                live = lives[i]
                if settle:
                    time.sleep(settle)
                try:
                    _chunk(live, n, config, frames)
                except Exception as exc:  # a target that breaks mid-run is reported, the others go on
                    failures.append(_failure(live.target, threads, exc))
                    live.rounds = -1
                trace.append((live.target.label, threads, r))
            for live in [lv for lv in lives if lv.rounds < 0]:
                live.predictor.close()
                lives.remove(live)
            r += 1
    finally:
        gc.enable()


def _result(live: _Live, threads: int, config: BenchConfig) -> BenchResult:
    t = live.target
    return BenchResult(
        artifact=t.artifact, label=t.label, format=t.format, backend=t.backend, threads=threads,
        batch=config.batch, via=t.via, load_ms=live.load_ms, cold_ms=live.cold_ms, samples_ms=tuple(live.samples),
        warmup_samples_ms=tuple(live.warmup), e2e_samples_ms=tuple(live.e2e), preprocess_samples_ms=tuple(live.pre),
        rounds=live.rounds, size_bytes=t.size_bytes, extra=dict(t.extra),
    )  # fmt: skip


def run_bench(
    targets: Sequence[MeasureTarget], config: BenchConfig, frames: Frames, *, progress: Progress | None = None
) -> BenchRun:
    """Measure every target at every thread count in ``config``; a target that fails is reported, never fatal."""
    say = progress or (lambda _msg: None)
    out = BenchRun([], [], [])
    for threads in config.threads:
        lives: list[_Live] = []
        for target in targets:
            say(f"loading {target.label} ({target.via}, {threads} thread(s))")
            try:
                lives.append(_open(target, threads, config, frames))
            except Exception as exc:
                out.failures.append(_failure(target, threads, exc))
        what = f"{config.runs} runs" if config.runs is not None else f"{config.duration_s:g} s"
        say(f"measuring {len(lives)} target(s) interleaved, {what}, {threads} thread(s)")
        try:
            _rounds(lives, threads, config, frames, out.trace, out.failures)
            out.results.extend(_result(live, threads, config) for live in lives)
        finally:
            for live in lives:
                live.predictor.close()
    return out
