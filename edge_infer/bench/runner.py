"""The measurement loop: load, cold run, warm-up, then interleaved rounds over every target.

Per thread count, every target is loaded (timed), run once (the cold, first-inference latency) and warmed up; then
targets take turns, ``round_size`` model-only runs and as many end-to-end runs each, the starting target rotating
every round. Slow drifts on a busy machine (another process, thermal throttling) then hit every target alike, so
ratios between targets hold even when absolute times move. The garbage collector is paused while timing.

With ``clients`` > 1, that many threads call the same predictor at once (as N users of one device, or N HTTP
clients of one server), each making the round's runs; every call's latency is kept and throughput is calls over
wall time. All timing goes through ``edge_infer.bench.timing``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_infer.bench.config import BenchConfig
from edge_infer.bench.frames import Frames
from edge_infer.bench.result import BenchResult, TargetFailure
from edge_infer.bench.split import add_split, frame_split
from edge_infer.bench.target import MeasureTarget
from edge_infer.bench.timing import ms_since, paused_gc, round_order, settle, timed, timed_concurrent, timed_one
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
    clients: int = 1
    wall_s: float = 0.0
    warmup: list[float] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    e2e: list[float] = field(default_factory=list)
    pre: list[float] = field(default_factory=list)
    split: dict[str, list[float]] = field(default_factory=dict)  # per-stage samples of the e2e calls (bench.split)
    rounds: int = 0
    frame_i: int = 0


@dataclass
class BenchRun:
    """What ``run_bench`` measured: results, failures, and the order chunks ran in (label, threads, round)."""

    results: list[BenchResult]
    failures: list[TargetFailure]
    trace: list[tuple[str, int, int]]


def _batch(predictor: Predictor, frames: Frames, start: int, batch: int) -> np.ndarray:
    images = frames.images
    xs = [predictor.preprocess(images[(start + j) % len(images)]) for j in range(batch)]
    return xs[0] if batch == 1 else np.concatenate(xs)


def _postprocess(predictor: Predictor, raw: np.ndarray) -> np.ndarray:
    return np.argmax(predictor.scores(raw), axis=-1)


def _open(target: MeasureTarget, threads: int, clients: int, config: BenchConfig, frames: Frames) -> _Live:
    predictor, load_ms = timed_one(lambda: target.open(threads))
    opened = False
    try:
        max_batch = predictor.max_batch
        if max_batch is not None and config.batch > max_batch:
            raise BenchError(f"batch {config.batch} is larger than this model accepts ({max_batch})")
        x = _batch(predictor, frames, 0, config.batch)
        _, cold_ms = timed_one(lambda: predictor.run(x))
        live = _Live(target, predictor, x, load_ms, cold_ms, clients=clients)
        live.warmup = timed(lambda: predictor.run(x), config.warmup)
        opened = True
    finally:
        if not opened:
            predictor.close()
    return live


def _e2e_call(live: _Live, frames: Frames, batch: int) -> None:
    """One end-to-end call (decoded frame -> preprocess -> model -> top-1); its preprocessing time is kept."""
    p = live.predictor
    start, live.frame_i = live.frame_i, live.frame_i + batch
    t0 = time.perf_counter()
    xb = _batch(p, frames, start, batch)
    pre_ms = ms_since(t0)
    t1 = time.perf_counter()
    raw = p.run(xb)
    model_ms = ms_since(t1)
    _postprocess(p, raw)
    live.pre.append(pre_ms)
    add_split(live.split, frame_split(pre_ms / batch, model_ms / batch, p.stage_timings()))


def _chunk(live: _Live, n: int, config: BenchConfig, frames: Frames) -> None:
    p, x = live.predictor, live.x
    live.rounds += 1
    if live.clients == 1:
        live.samples += timed(lambda: p.run(x), n)
        if config.e2e:
            live.e2e += timed(lambda: _e2e_call(live, frames, config.batch), n)
        return
    run = timed_concurrent(lambda _client: p.run(x), n * live.clients, live.clients)
    live.samples += run.samples
    live.wall_s += run.wall_s
    if config.e2e:
        live.e2e += timed_concurrent(lambda _client: _e2e_call(live, frames, config.batch), n * live.clients,
                                     live.clients).samples  # fmt: skip


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
    with paused_gc():
        while lives and (r < planned if planned is not None else (r == 0 or time.perf_counter() < deadline)):
            n = config.round_size
            if config.runs is not None:
                n = min(n, config.runs - r * config.round_size)
            settle_ms = config.settle_ms if threads > 1 and len(lives) > 1 else 0.0
            for i in round_order(len(lives), r):
                live = lives[i]
                if settle_ms:
                    settle(settle_ms)
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


def _result(live: _Live, threads: int, config: BenchConfig, frames: Frames) -> BenchResult:
    t = live.target
    split = {**({"decode": list(frames.decode_ms)} if frames.decode_ms else {}), **live.split}
    return BenchResult(
        artifact=t.artifact, label=t.label, format=t.format, backend=t.backend, threads=threads,
        batch=config.batch, via=t.via, load_ms=live.load_ms, cold_ms=live.cold_ms, samples_ms=tuple(live.samples),
        clients=live.clients, wall_s=live.wall_s if live.clients > 1 else None,
        warmup_samples_ms=tuple(live.warmup), e2e_samples_ms=tuple(live.e2e), preprocess_samples_ms=tuple(live.pre),
        rounds=live.rounds, size_bytes=t.size_bytes, extra=dict(t.extra),
        split_samples_ms={k: tuple(v) for k, v in split.items()}, split_from="end-to-end calls",
    )  # fmt: skip


def run_bench(
    targets: Sequence[MeasureTarget], config: BenchConfig, frames: Frames, *, progress: Progress | None = None
) -> BenchRun:
    """Measure every target at every thread count in ``config``; a target that fails is reported, never fatal."""
    say = progress or (lambda _msg: None)
    out = BenchRun([], [], [])
    for threads, clients in [(t, c) for t in config.threads for c in config.clients]:
        lives: list[_Live] = []
        who = f"{threads} thread(s)" + (f", {clients} concurrent clients" if clients > 1 else "")
        for target in targets:
            try:
                if target.prepare is not None:  # untimed: e.g. auto's choice of backend at this thread count
                    say(f"preparing {target.label} ({target.backend}, {who})")
                    target = target.prepare(target, threads)
                say(f"loading {target.label} ({target.via}, {target.backend}, {who})")
                lives.append(_open(target, threads, clients, config, frames))
            except Exception as exc:
                out.failures.append(_failure(target, threads, exc))
        what = f"{config.runs} runs" if config.runs is not None else f"{config.duration_s:g} s"
        say(f"measuring {len(lives)} target(s) interleaved, {what}, {who}")
        try:
            _rounds(lives, threads, config, frames, out.trace, out.failures)
            out.results.extend(_result(live, threads, config, frames) for live in lives)
        finally:
            for live in lives:
                live.predictor.close()
    return out
