"""The live loop's middle stage: preprocessing on its own thread, handing tensors to inference through a one-item slot.

    capture thread            preprocess thread               inference (the caller's thread)
    source.read() -> slot  ->  predictor.preprocess() -> slot  ->  predictor.run(), top-k, on_result

Each hand-over is a ``Slot`` of one item. When frames may be dropped (a camera, a video played at its own rate) the
newest item wins: a put replaces an item not yet taken, and the replaced one is counted as dropped. Otherwise (every
frame of a file, as fast as possible) a put waits until the item was taken. So while the model runs on frame N, frame
N+1 is decoded and preprocessed beside it, and the model never waits for preprocessing unless preprocessing is the
slower stage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from edge_infer.errors import EdgeInferError
from edge_infer.sources.base import Frame

T = TypeVar("T")


class Slot(Generic[T]):
    """A one-item hand-over between two threads. ``drop=True``: ``put`` replaces an item not yet taken (latest wins,
    ``dropped`` counts the replaced ones); ``drop=False``: ``put`` waits until the item was taken. ``close()`` marks
    the end of the stream: ``get`` then returns what is left, and ``finished`` is True once it is taken."""

    def __init__(self, *, drop: bool) -> None:
        self.drop = drop
        self.dropped = 0
        self._item: T | None = None
        self._closed = False
        self._stopped = False
        self._cond = threading.Condition()

    def put(self, item: T) -> bool:
        """Hand ``item`` over; False (and nothing handed over) when the slot was stopped while waiting."""
        with self._cond:
            if not self.drop:
                self._cond.wait_for(lambda: self._item is None or self._stopped)
            if self._stopped:
                return False
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> T | None:
        """Take the item; None if none came within ``timeout`` or the stream ended (then ``finished``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed or self._stopped, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def stop(self) -> None:
        """Release a producer waiting in ``put`` (shutting down)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._closed and self._item is None


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A frame ready for the model: its batch of one, how long preprocessing took, or why it failed."""

    frame: Frame
    batch: np.ndarray | None
    preprocess_ms: float
    error: str | None = None


FrameSource = Callable[[float], Frame | None]  # get(timeout): the next frame, None if none yet or at the end
Preprocess = Callable[[Frame], np.ndarray]


class PreprocessStage:
    """Takes frames from ``next_frame`` (the capture thread's slot), preprocesses each in a daemon thread and
    publishes it in ``slot``. ``ended()`` says the capture side is done. A frame whose preprocessing raises an
    ``EdgeInferError`` is handed over with its error (the consumer counts it as failed); any other exception ends
    the stage, recorded in ``error``. ``cpu_s`` is the thread's CPU time once it has ended."""

    def __init__(self, next_frame: FrameSource, ended: Callable[[], bool], preprocess: Preprocess, *,
                 drop: bool) -> None:  # fmt: skip
        self.next_frame, self.ended, self.preprocess = next_frame, ended, preprocess
        self.slot: Slot[Prepared] = Slot(drop=drop)
        self.error: str | None = None
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preprocess", daemon=True)

    def start(self) -> PreprocessStage:
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop the thread and wait for it; False if it is still busy after ``timeout``."""
        self._stop.set()
        self.slot.stop()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    def _run(self) -> None:
        cpu0 = time.thread_time()
        try:
            while not self._stop.is_set():
                frame = self.next_frame(0.2)
                if frame is None:
                    if self.ended():
                        break
                    continue
                if not self.slot.put(self._prepare(frame)):
                    break
        except Exception as exc:  # never die silently in the thread: the loop reports it and stops
            self.error = f"preprocessing failed ({type(exc).__name__}: {exc})"
        finally:
            self.cpu_s = time.thread_time() - cpu0
            self.slot.close()

    def _prepare(self, frame: Frame) -> Prepared:
        t0 = time.perf_counter()
        try:
            batch = self.preprocess(frame)
        except EdgeInferError as exc:
            return Prepared(frame=frame, batch=None, preprocess_ms=(time.perf_counter() - t0) * 1e3, error=str(exc))
        return Prepared(frame=frame, batch=batch, preprocess_ms=(time.perf_counter() - t0) * 1e3)


R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What a worker made of one item: its ``value``, or the exception ``work`` raised."""

    item: T
    value: R | None
    error: Exception | None = None


class OrderedWorkers(Generic[T, R]):
    """``workers`` threads that take items from ``slot`` and apply ``work`` to each, several items at once; ``get``
    returns the outcomes in the order the items were taken (a reorder buffer), so a consumer sees them in frame order.

    This is the throughput mode of OpenVINO's ``benchmark_app`` (several inference streams, each with a share of the
    cores) for an engine whose ``run`` may be called from several threads at once: on 2 cores two 1-thread runs side
    by side spend less CPU per frame than one 2-thread run, which waits for its threads at every operator."""

    def __init__(self, slot: Slot[T], work: Callable[[T], R], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.slot, self.work = slot, work
        self._take = threading.Lock()
        self._cond = threading.Condition()
        self._outcomes: dict[int, Outcome[T, R]] = {}
        self._taken = 0
        self._given = 0
        self._alive = workers
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"infer-{i}", daemon=True) for i in range(workers)]

    def start(self) -> OrderedWorkers[T, R]:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop taking items and wait for the threads; False if one is still busy after ``timeout``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def get(self, timeout: float) -> Outcome[T, R] | None:
        """The next outcome in take order; None if it is not ready within ``timeout`` or all are given (then
        ``finished``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._given in self._outcomes or self._alive == 0, timeout)
            outcome = self._outcomes.pop(self._given, None)
            if outcome is not None:
                self._given += 1
            return outcome

    @property
    def finished(self) -> bool:
        """Every worker has ended (the slot's stream ended or ``stop``) and every outcome was given."""
        with self._cond:
            return self._alive == 0 and self._given not in self._outcomes

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._take:  # one taker at a time, so take order is the slot's order
                    item = self.slot.get(0.2)
                    if item is None:
                        if self.slot.finished:
                            break
                        continue
                    seq, self._taken = self._taken, self._taken + 1
                try:
                    outcome: Outcome[T, R] = Outcome(item, self.work(item))
                except Exception as exc:  # handed to the consumer, which decides (a bad frame or a fatal error)
                    outcome = Outcome(item, None, exc)
                with self._cond:
                    self._outcomes[seq] = outcome
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._alive -= 1
                self._cond.notify_all()
