"""The live loop: capture, preprocessing and inference overlapped on three threads, and a run summary.

OpenCV and camera drivers queue frames; a model slower than the camera then labels a scene from seconds ago. The
``FrameGrabber`` reads frames in its own thread and keeps a one-frame slot: a new frame replaces an unconsumed one
(counted as dropped), so the consumer always gets the current scene. A second thread preprocesses the newest frame
while the model runs on the previous one (``edge_infer.pipeline``), so the frame rate is set by the slowest stage,
normally the model, not by the sum of the stages. Video files are paced at their frame rate in real time (a slow
model drops frames instead of falling behind); ``realtime=False`` processes every frame as fast as possible.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_infer.errors import EdgeInferError, InputError, SourceError, SpecError
from edge_infer.live_report import STAGES, LiveResult, LiveSummary, percentiles
from edge_infer.pipeline import OrderedWorkers, Outcome, Prepared, PreprocessStage
from edge_infer.predictors import ImageClassifier
from edge_infer.result import Prediction
from edge_infer.sources.base import Frame, Source
from edge_infer.threads import opencv_threads

__all__ = ["FrameGrabber", "LiveOptions", "LiveResult", "LiveSummary", "make_grabber", "pace_of", "percentiles",
           "run_live"]

EventSink = Callable[[str], None]


class FrameGrabber:
    """Reads ``source`` in a daemon thread. With ``drop=True`` a one-frame slot holds the newest frame and every
    frame replaced before it was taken counts in ``dropped``; with ``drop=False`` the thread waits for the consumer.
    ``pace_fps`` releases frames at that rate (a video file played in real time). A reconnectable source that fails
    is reopened up to ``retries`` times with exponential backoff; each step is reported through ``on_event``."""

    def __init__(
        self, source: Source, *, drop: bool, pace_fps: float | None = None, retries: int = 5,
        backoff_s: float = 0.5, max_backoff_s: float = 8.0, on_event: EventSink | None = None,
    ) -> None:  # fmt: skip
        self.source = source
        self.drop = drop
        self.pace_fps = pace_fps
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.on_event = on_event or (lambda message: None)
        self.captured = 0
        self.dropped = 0
        self.reconnects = 0
        self.error: str | None = None
        self.ended = False
        self.cpu_s = 0.0  # CPU time of the capture thread (reading and decoding), once it has ended
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {source.name}", daemon=True)

    def start(self) -> FrameGrabber:
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        """Ask the thread to stop and wait for it; False if it is still blocked in a read after ``timeout``."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def get(self, timeout: float = 0.5) -> Frame | None:
        """The newest frame (taking it out of the slot); None if none arrived within ``timeout`` or the source
        ended (then ``ended`` is True)."""
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self.ended, timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    @property
    def finished(self) -> bool:
        """The source ended (or failed for good) and its last frame has been taken."""
        with self._cond:
            return self.ended and self._slot is None

    # -- capture thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        start, n = time.monotonic(), 0
        cpu0 = time.thread_time()
        try:
            while not self._stop.is_set():
                if self.pace_fps:
                    delay = start + n / self.pace_fps - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                try:
                    frame = self.source.read()
                except SourceError as exc:
                    if self.source.reconnectable and self._reconnect(exc):
                        continue
                    self.error = self.error or str(exc)
                    break
                if frame is None:
                    break
                n += 1
                self._publish(frame)
        except Exception as exc:  # never die silently in the thread: the loop reports it and stops
            self.error = f"{self.source.name}: capture failed ({type(exc).__name__}: {exc})"
        finally:
            self.cpu_s = time.thread_time() - cpu0
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if not self.drop:
                self._cond.wait_for(lambda: self._slot is None or self._stop.is_set())
                if self._stop.is_set():
                    return
            if self._slot is not None:
                self.dropped += 1
            self._slot = frame
            self.captured += 1
            self._cond.notify_all()

    def _reconnect(self, exc: SourceError) -> bool:
        for attempt in range(1, self.retries + 1):
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
            self.on_event(f"{exc}; reconnecting in {delay:g} s (attempt {attempt}/{self.retries})")
            if self._stop.wait(delay):
                return False
            try:
                self.source.reopen()
            except SourceError as again:
                exc = again
                continue
            self.reconnects += 1
            self.on_event(f"{self.source.name}: reconnected after {attempt} attempt(s)")
            return True
        self.error = f"{exc}; gave up after {self.retries} reconnection attempt(s)"
        return False


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """How long to run and how to treat frames. ``realtime`` plays video files at their frame rate, dropping what
    the model cannot keep up with (``--pace native``); False processes every frame as fast as possible
    (``--pace fast``)."""

    top_k: int = 5
    max_frames: int | None = None
    duration_s: float | None = None
    realtime: bool = True
    retries: int = 5
    backoff_s: float = 0.5
    streams: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise SpecError(f"streams must be a whole number of at least 1, got {self.streams!r}")
        if self.top_k < 1:
            raise SpecError(f"top_k must be at least 1, got {self.top_k}")
        if self.max_frames is not None and self.max_frames < 1:
            raise SpecError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise SpecError(f"duration must be positive, got {self.duration_s:g} s")
        if self.retries < 0:
            raise SpecError(f"retries must be 0 or more, got {self.retries}")


def threads_per_stream(total: int, streams: int) -> int:
    """Threads each of ``streams`` concurrent model runs gets out of ``total``."""
    if total < streams:
        raise SpecError(f"{streams} streams need at least {streams} threads, got {total}")
    return total // streams


def stream_threads(threads: int | None, streams: int) -> int | None:
    """The predictor's threads for ``streams`` out of ``threads`` in all (None: all cores); None (the default)
    for one stream without a thread count."""
    if streams <= 1:
        return threads
    return threads_per_stream(threads or os.cpu_count() or 1, streams)


def make_grabber(source: Source, options: LiveOptions, on_event: EventSink | None = None) -> FrameGrabber:
    """Live sources always drop stale frames; a source with a frame rate (video, synthetic@FPS) is paced and drops
    only in real-time mode; anything else (images) is processed frame by frame."""
    paced = source.fps if (options.realtime and not source.live) else None
    drop = source.live or paced is not None
    return FrameGrabber(
        source, drop=drop, pace_fps=paced, retries=options.retries, backoff_s=options.backoff_s, on_event=on_event
    )


class _Rate:
    """Frames per second over the last second of completions."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=240)

    def tick(self, now: float) -> float:
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > 1.0:
            self._times.popleft()
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def pace_of(source: Source, options: LiveOptions) -> str:
    """How frames of ``source`` come: ``live`` (camera, stream), ``native`` (a file at its own frame rate) or
    ``fast`` (every frame, as fast as the loop goes: ``realtime=False``, or a source without a frame rate)."""
    if source.live:
        return "live"
    return "native" if options.realtime and source.fps else "fast"


@dataclass
class _Tally:
    """What the inference thread counts and times while the loop runs."""

    frames: int = 0
    failed: int = 0
    first_done: float | None = None
    last_done: float = 0.0
    latency: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in STAGES})

    def add(self, timings: dict[str, float], done: float) -> None:
        self.frames += 1
        self.first_done = done if self.first_done is None else self.first_done
        self.last_done = done
        self.latency.append(timings["latency"])
        for name in STAGES:
            value = timings.get("capture" if name == "decode" else name)
            if value is not None:
                self.stages[name].append(value)


def _infer(predictor: ImageClassifier, item: Prepared, top_k: int) -> Prediction:
    """The inference thread's part: the model on the preprocessed batch, then the top-k of its scores."""
    if item.batch is None:
        raise InputError(item.error or "preprocessing gave no input")
    t0 = time.perf_counter()
    raw = predictor.run(item.batch)
    t1 = time.perf_counter()
    probs = predictor.scores(raw)[0]
    timings = {"preprocess": item.preprocess_ms, "inference": (t1 - t0) * 1e3, **predictor.stage_timings()}
    timings["total"] = item.preprocess_ms + (time.perf_counter() - t0) * 1e3
    return predictor.to_prediction(probs, top_k, timings, item.frame.name)


def run_live(
    predictor: ImageClassifier,
    source: Source,
    options: LiveOptions = LiveOptions(),
    *,
    on_result: Callable[[LiveResult], bool | None] | None = None,
    on_event: EventSink | None = None,
) -> LiveSummary:
    """Classify frames from ``source`` until it ends, ``max_frames``/``duration_s`` is reached, ``on_result``
    returns False, or Ctrl-C. Opens the source (SourceError if it cannot) and always returns a summary.

    Three threads overlap: the capture thread reads (and decodes) frames, a preprocess thread turns the newest one
    into the model's input, and this thread runs the model and calls ``on_result`` in frame order. With
    ``options.streams`` N > 1, N inference threads run the model on N frames at once (throughput mode, for a predictor
    whose ``run`` may be called concurrently: load it with 1/N of the cores as its threads) and this thread still
    calls ``on_result`` in frame order. All threads are stopped and joined before this returns. While it runs,
    OpenCV uses no worker threads of its own (``threads.opencv_threads``): the stages are the parallelism."""
    with opencv_threads(1):
        return _run_live(predictor, source, options, on_result, on_event)


def _run_live(
    predictor: ImageClassifier, source: Source, options: LiveOptions,
    on_result: Callable[[LiveResult], bool | None] | None, on_event: EventSink | None,
) -> LiveSummary:  # fmt: skip
    if options.streams > 1 and not predictor.concurrent_runs:
        raise SpecError(f"the {predictor.backend} backend cannot run the model on several frames at once; "
                        "use 1 stream")  # fmt: skip
    source.open()
    grabber = make_grabber(source, options, on_event)

    def preprocess(frame: Frame) -> np.ndarray:
        return predictor.preprocess(frame.image, color_order=frame.color_order, name=frame.name)

    stage = PreprocessStage(grabber.get, lambda: grabber.finished, preprocess, drop=grabber.drop)
    workers: OrderedWorkers[Prepared, Prediction] | None = None
    if options.streams > 1:
        workers = OrderedWorkers(stage.slot, lambda item: _infer(predictor, item, options.top_k), options.streams)

    def next_outcome() -> Outcome[Prepared, Prediction] | None:
        if workers is not None:
            return workers.get(timeout=0.2)
        item = stage.slot.get(timeout=0.2)
        if item is None:
            return None
        try:
            return Outcome(item, _infer(predictor, item, options.top_k))
        except EdgeInferError as exc:
            return Outcome(item, None, exc)

    rate, tally = _Rate(), _Tally()
    reason, start, cpu0 = "end of source", time.monotonic(), time.process_time()
    grabber.start()
    stage.start()
    if workers is not None:
        workers.start()
    try:
        while True:
            if options.max_frames is not None and tally.frames + tally.failed >= options.max_frames:
                reason = "max frames"
                break
            if options.duration_s is not None and time.monotonic() - start >= options.duration_s:
                reason = "duration"
                break
            outcome = next_outcome()
            if outcome is None:
                if workers.finished if workers is not None else stage.slot.finished:
                    reason = "source lost" if (grabber.error or stage.error) else "end of source"
                    break
                continue
            item, pred = outcome.item, outcome.value
            if outcome.error is not None or pred is None:
                if not isinstance(outcome.error, EdgeInferError):
                    raise outcome.error or RuntimeError("inference gave no result")
                tally.failed += 1
                if on_event:
                    on_event(f"{item.frame.name}: {outcome.error}")
                continue
            now = time.monotonic()
            timings = {"capture": item.frame.read_ms, **pred.timings_ms,
                       "latency": (now - item.frame.timestamp) * 1e3}  # fmt: skip
            tally.add(timings, now)
            result = LiveResult(frame=item.frame, prediction=pred, timings_ms=timings, fps=rate.tick(now),
                                dropped=grabber.dropped + stage.dropped)  # fmt: skip
            if on_result is not None and on_result(result) is False:
                reason = "stopped by user"
                break
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        elapsed = time.monotonic() - start
        stage_stopped = stage.stop()
        workers_stopped = workers.stop() if workers is not None else True
        if grabber.stop() and stage_stopped and workers_stopped:
            source.close()  # never close a capture another thread is still reading
        cpu_s = time.process_time() - cpu0
    return _summary(source, grabber, stage, tally, elapsed=elapsed, reason=reason, cpu_s=cpu_s,
                    pace=pace_of(source, options), streams=options.streams)  # fmt: skip


def _cpu_per_frame(grabber: FrameGrabber, stage: PreprocessStage, cpu_s: float, frames: int) -> dict[str, float]:
    if not frames:
        return {}
    parts = {"capture": grabber.cpu_s, "preprocess": stage.cpu_s}
    parts["model and rest"] = max(0.0, cpu_s - sum(parts.values()))
    parts["total"] = cpu_s
    return {k: round(v * 1e3 / frames, 3) for k, v in parts.items()}


def _summary(
    source: Source, grabber: FrameGrabber, stage: PreprocessStage, tally: _Tally, *, elapsed: float, reason: str,
    cpu_s: float, pace: str, streams: int = 1,
) -> LiveSummary:  # fmt: skip
    span = tally.last_done - (tally.first_done or 0.0)
    return LiveSummary(
        source=source.name, frames=tally.frames, captured=grabber.captured, dropped=grabber.dropped + stage.dropped,
        failed=tally.failed, elapsed_s=elapsed, fps=tally.frames / elapsed if elapsed > 0 else 0.0,
        latency_ms=percentiles(tally.latency), inference_ms=percentiles(tally.stages["inference"]),
        reconnects=grabber.reconnects, stop_reason=reason, error=grabber.error or stage.error,
        skipped=tuple(source.skipped), pace=pace, fps_steady=(tally.frames - 1) / span if span > 0 else 0.0,
        drops={"capture": grabber.dropped, "preprocess": stage.dropped},
        stages_ms={name: percentiles(v) for name, v in tally.stages.items() if v},
        cpu_ms_per_frame=_cpu_per_frame(grabber, stage, cpu_s, tally.frames), streams=streams,
    )  # fmt: skip
