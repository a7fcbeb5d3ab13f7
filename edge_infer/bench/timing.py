"""The one timing loop: wall-clock milliseconds per call, one caller or N concurrent callers, the collector paused.

Every measurement in edge-infer goes through here: ``edge-infer bench`` (``runner``), the HTTP overhead harness
(``overhead``) and every script in ``benchmarks/``. Samples are kept raw, in the order they were taken; summaries are
``LatencyStats`` and ratios between interleaved targets ``result.paired_ratio``.

    with paused_gc():
        samples = timed(lambda: session.run(None, feed), 100)
        run = timed_concurrent(lambda client: predictor.predict(data), 200, clients=8)
        run.samples, run.values, run.wall_s
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, NamedTuple, TypeVar

from edge_infer.errors import BenchError

T = TypeVar("T")


def ms_since(t0: float) -> float:
    """Milliseconds from ``t0`` (a ``time.perf_counter()`` reading) to now."""
    return (time.perf_counter() - t0) * 1e3


def timed(call: Callable[[], object], n: int) -> list[float]:
    """Call ``call`` ``n`` times back to back; the latency of each call in ms."""
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(ms_since(t0))
    return out


def timed_one(call: Callable[[], T]) -> tuple[T, float]:
    """``call()``'s result and its latency in ms (a load, a first inference)."""
    t0 = time.perf_counter()
    value = call()
    return value, ms_since(t0)


class ConcurrentRun(NamedTuple, Generic[T]):
    """What ``timed_concurrent`` measured: each call's latency (ms) and return value, in completion order (the
    two lists pair up), and the wall time in seconds (throughput is ``len(samples) / wall_s``)."""

    samples: list[float]
    values: list[T]
    wall_s: float


def timed_concurrent(
    call: Callable[[int], T], n: int | None, clients: int, *, duration_s: float | None = None
) -> ConcurrentRun[T]:
    """``clients`` threads each call ``call(client_index)`` back to back, ``n`` calls in all (spread evenly) or,
    with ``duration_s``, until that many seconds have passed. A call that raises stops the measurement and the
    error propagates, after the other clients finished their current call."""
    if clients < 1:
        raise BenchError(f"clients must be at least 1, got {clients}")
    if (n is None) == (duration_s is None):
        raise BenchError("give either a number of calls or a duration")
    samples: list[float] = []
    values: list[T] = []
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.perf_counter() + (duration_s or 0.0)
    per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)] if n is not None else None

    def client(i: int) -> None:
        done = 0
        while not stop.is_set() and (done < per[i] if per is not None else time.perf_counter() < deadline):
            t0 = time.perf_counter()
            try:
                value = call(i)
            except Exception:  # re-raised at once, after telling the other clients to stop
                stop.set()
                raise
            ms = ms_since(t0)
            with lock:
                samples.append(ms)
                values.append(value)
            done += 1

    t0 = time.perf_counter()
    if clients == 1:
        client(0)
    else:
        with ThreadPoolExecutor(clients, thread_name_prefix="bench-client") as pool:
            for future in [pool.submit(client, i) for i in range(clients)]:
                future.result()
    return ConcurrentRun(samples, values, time.perf_counter() - t0)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Collect once, then keep the garbage collector off while timing (a collection in a sample is noise)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


SETTLE_MAX_MS = 500.0  # the longest ``settle`` waits by default: spinning pools stop well within it


def settle(max_ms: float = SETTLE_MAX_MS, *, step_ms: float = 5.0, busy_below: float = 0.05) -> float:
    """Wait until this process stops using CPU, at most ``max_ms``; the milliseconds waited.

    After a run, ONNX Runtime's and OpenMP's thread pools keep spinning for a while in case more work comes: measured
    on 2026-12-07 on an Intel Xeon (Ice Lake, 2 cores), 55-100 ms after each run of a 2-thread ONNX Runtime
    session, during which another session's run took 2-3x its time. How long they spin depends on the CPU (a spin
    loop of PAUSE instructions, slow on Intel since Skylake), so a fixed pause is too short on one machine and wasted on
    another. This waits in ``step_ms`` steps until a step in which the whole process used less than ``busy_below`` of
    one core. Call it before each target's turn when targets take turns on the same cores."""
    deadline = time.perf_counter() + max_ms / 1e3
    t_start = time.perf_counter()
    while True:
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(step_ms / 1e3)
        elapsed = time.perf_counter() - t0
        if (time.process_time() - c0) < busy_below * elapsed or time.perf_counter() >= deadline:
            return ms_since(t_start)


def round_order(n_targets: int, round_index: int) -> list[int]:
    """Target indices in round ``round_index``: rotated by one each round, so none always follows the same one."""
    return [(round_index + i) % n_targets for i in range(n_targets)]
