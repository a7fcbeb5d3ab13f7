"""The live loop: a capture thread that keeps only the newest frame, prediction on it, and a run summary.

OpenCV and camera drivers queue frames; a model slower than the camera then labels a scene from seconds ago. The
``FrameGrabber`` reads frames in its own thread and keeps a one-frame slot: a new frame replaces an unconsumed one
(counted as dropped), so the consumer always gets the current scene. Video files are paced at their frame rate in
real time (a slow model drops frames instead of falling behind); ``realtime=False`` processes every frame.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from edge_infer.bench.stats import LatencyStats
from edge_infer.errors import EdgeInferError, SourceError, SpecError
from edge_infer.predictors import ImageClassifier
from edge_infer.result import Prediction
from edge_infer.sources.base import Frame, SkippedInput, Source

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
class LiveResult:
    """One processed frame: its prediction, stage timings (ms), the loop's FPS and drops so far."""

    frame: Frame
    prediction: Prediction
    timings_ms: dict[str, float]
    fps: float
    dropped: int

    def to_dict(self) -> dict[str, Any]:
        p = self.prediction.to_dict()
        return {
            "index": self.frame.index, "name": self.frame.name, "timestamp": round(self.frame.timestamp, 6),
            "label": p["label"], "class_id": p["class_id"], "score": p["score"], "top_k": p["top_k"],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "fps": round(self.fps, 2), "dropped": self.dropped,
        }  # fmt: skip


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``samples`` (ms), rounded; empty when there are none."""
    if not samples:
        return {}
    s = LatencyStats.from_samples(samples)
    return {"p50": round(s.p50, 3), "p90": round(s.p90, 3), "p99": round(s.p99, 3), "max": round(s.max, 3)}


@dataclass(frozen=True, kw_only=True)
class LiveSummary:
    """What a live run did. ``latency_ms`` is capture to result (how old the scene is when its label is ready)."""

    source: str
    frames: int
    captured: int
    dropped: int
    failed: int
    elapsed_s: float
    fps: float
    latency_ms: dict[str, float]
    inference_ms: dict[str, float]
    reconnects: int
    stop_reason: str
    error: str | None = None
    skipped: tuple[SkippedInput, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "skipped"}
        d["fps"], d["elapsed_s"] = round(self.fps, 2), round(self.elapsed_s, 3)
        d["skipped"] = [{"input": s.name, "error": s.error} for s in self.skipped]
        return d

    def format(self) -> str:
        def pct(d: dict[str, float]) -> str:
            return ", ".join(f"{k} {v:.1f}" for k, v in d.items()) + " ms" if d else "n/a"

        lines = [
            f"{self.source}: stopped ({self.stop_reason}) after {self.elapsed_s:.1f} s",
            f"  frames processed {self.frames} of {self.captured} captured, dropped {self.dropped}"
            + (f", failed {self.failed}" if self.failed else "") + f"; {self.fps:.1f} FPS",
            f"  latency capture->result {pct(self.latency_ms)}",
            f"  inference {pct(self.inference_ms)}",
        ]  # fmt: skip
        if self.reconnects:
            lines.append(f"  reconnected {self.reconnects} time(s)")
        lines += [f"  skipped {s.name}: {s.error}" for s in self.skipped]
        if self.error:
            lines.append(f"  source error: {self.error}")
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """How long to run and how to treat frames. ``realtime`` paces video files at their frame rate."""

    top_k: int = 5
    max_frames: int | None = None
    duration_s: float | None = None
    realtime: bool = True
    retries: int = 5
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise SpecError(f"top_k must be at least 1, got {self.top_k}")
        if self.max_frames is not None and self.max_frames < 1:
            raise SpecError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise SpecError(f"duration must be positive, got {self.duration_s:g} s")
        if self.retries < 0:
            raise SpecError(f"retries must be 0 or more, got {self.retries}")


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


def run_live(
    predictor: ImageClassifier,
    source: Source,
    options: LiveOptions = LiveOptions(),
    *,
    on_result: Callable[[LiveResult], bool | None] | None = None,
    on_event: EventSink | None = None,
) -> LiveSummary:
    """Classify frames from ``source`` until it ends, ``max_frames``/``duration_s`` is reached, ``on_result``
    returns False, or Ctrl-C. Opens the source (SourceError if it cannot) and always returns a summary."""
    source.open()
    grabber = make_grabber(source, options, on_event).start()
    rate, latencies, inferences = _Rate(), list[float](), list[float]()
    frames = failed = 0
    reason, start = "end of source", time.monotonic()
    try:
        while True:
            if options.max_frames is not None and frames + failed >= options.max_frames:
                reason = "max frames"
                break
            if options.duration_s is not None and time.monotonic() - start >= options.duration_s:
                reason = "duration"
                break
            frame = grabber.get(timeout=0.2)
            if frame is None:
                if grabber.finished:
                    reason = "source lost" if grabber.error else "end of source"
                    break
                continue
            try:
                pred = predictor.predict(
                    frame.image, top_k=options.top_k, color_order=frame.color_order, name=frame.name
                )
            except EdgeInferError as exc:
                failed += 1
                if on_event:
                    on_event(f"{frame.name}: {exc}")
                continue
            now = time.monotonic()
            frames += 1
            timings = {"capture": frame.read_ms, **pred.timings_ms, "latency": (now - frame.timestamp) * 1e3}
            latencies.append(timings["latency"])
            inferences.append(pred.timings_ms.get("inference", 0.0))
            result = LiveResult(frame=frame, prediction=pred, timings_ms=timings, fps=rate.tick(now),
                                dropped=grabber.dropped)  # fmt: skip
            if on_result is not None and on_result(result) is False:
                reason = "stopped by user"
                break
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        elapsed = time.monotonic() - start
        if grabber.stop():
            source.close()  # never close a capture another thread is still reading
    return _summary(source, grabber, frames=frames, failed=failed, elapsed=elapsed, reason=reason,
                    latencies=latencies, inferences=inferences)  # fmt: skip


def _summary(
    source: Source, grabber: FrameGrabber, *, frames: int, failed: int, elapsed: float, reason: str,
    latencies: list[float], inferences: list[float],
) -> LiveSummary:  # fmt: skip
    return LiveSummary(
        source=source.name, frames=frames, captured=grabber.captured, dropped=grabber.dropped, failed=failed,
        elapsed_s=elapsed, fps=frames / elapsed if elapsed > 0 else 0.0, latency_ms=percentiles(latencies),
        inference_ms=percentiles(inferences), reconnects=grabber.reconnects, stop_reason=reason,
        error=grabber.error, skipped=tuple(source.skipped),
    )  # fmt: skip
