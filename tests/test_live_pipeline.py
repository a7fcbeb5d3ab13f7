"""The pipelined live loop (capture, preprocess and inference threads) on a real 640x480 video of real photos:
every result in order, drops accounted for, preprocessing off the inference thread, clean shutdown. Counts and
invariants only, never timings; the fake model (``edge_infer.testing``) stands in for the network."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SAMPLE_VIDEO_PHOTOS, write_photo_video

from edge_infer.live import LiveOptions, run_live
from edge_infer.errors import InputError, SpecError
from edge_infer.pipeline import OrderedWorkers, Slot
from edge_infer.sources import SyntheticSource, open_source
from edge_infer.testing import FakeClassifier

PER_PHOTO = 5
N_FRAMES = 4 * PER_PHOTO


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 640x480 30 FPS MP4 of four real photos panned across (``edge-infer samples --video``), 20 frames."""
    from edge_infer.build import write_sample_video

    return write_sample_video(tmp_path_factory.mktemp("clip") / "pan.mp4", frames_per_photo=PER_PHOTO)


def loop_threads() -> list[str]:
    """The live loop's own threads still running."""
    return [t.name for t in threading.enumerate()
            if t.name == "preprocess" or t.name.startswith(("capture ", "infer-"))]  # fmt: skip


def test_every_frame_in_order_as_fast_as_possible(video: Path) -> None:
    seen: list[int] = []
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, open_source(str(video)), LiveOptions(realtime=False),
                           on_result=lambda r: seen.append(r.frame.index))  # fmt: skip
    assert seen == list(range(N_FRAMES))
    assert (summary.frames, summary.captured, summary.dropped, summary.failed) == (N_FRAMES, N_FRAMES, 0, 0)
    assert summary.drops == {"capture": 0, "preprocess": 0}
    assert summary.pace == "fast" and summary.stop_reason == "end of source" and summary.error is None
    assert set(summary.stages_ms) == {"decode", "preprocess", "inference"}
    assert set(summary.latency_ms) == {"p50", "p90", "p99", "max"}
    assert set(summary.cpu_ms_per_frame) == {"capture", "preprocess", "model and rest", "total"}
    assert summary.fps > 0 and summary.fps_steady > 0
    text = summary.format()
    assert "every frame, as fast as possible" in text and "latency capture->result p50" in text and "p90" in text
    assert loop_threads() == []  # end of stream: both threads have ended


class Overlapping(FakeClassifier):
    """Records which thread preprocesses and which runs the model; the model call for frame k waits until
    preprocessing of frame k+1 has begun. A loop that preprocesses on the inference thread never gets there."""

    def __init__(self, *args: Any, frames: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = [threading.Event() for _ in range(frames + 1)]
        self.pre_threads: set[str] = set()
        self.run_threads: set[str] = set()
        self.overlapped: list[bool] = []
        self.frames = frames

    def preprocess(self, image: Any, **kwargs: Any) -> np.ndarray:
        self.pre_threads.add(threading.current_thread().name)
        self.started[sum(e.is_set() for e in self.started)].set()
        return super().preprocess(image, **kwargs)

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.run_threads.add(threading.current_thread().name)
        k = len(self.overlapped)
        if k + 1 < self.frames:  # the next frame is being preprocessed while this one is in the model
            self.overlapped.append(self.started[k + 1].wait(timeout=20) if all(self.overlapped) else False)
        else:
            self.overlapped.append(True)
        return super().run(batch)


def test_preprocessing_runs_beside_the_model_not_before_it(video: Path) -> None:
    from edge_infer.testing import fake_manifest

    predictor = Overlapping(fake_manifest(), threads=1, frames=N_FRAMES)
    with predictor:
        summary = run_live(predictor, open_source(str(video)), LiveOptions(realtime=False))
    assert summary.frames == N_FRAMES and summary.dropped == 0
    assert predictor.overlapped == [True] * N_FRAMES
    assert predictor.pre_threads == {"preprocess"} and predictor.run_threads == {threading.current_thread().name}


def test_opencv_uses_no_worker_threads_of_its_own_during_the_loop_and_is_restored_after(video: Path) -> None:
    import cv2

    cv2.setNumThreads(2)
    during: list[int] = []
    try:
        with FakeClassifier.create(threads=1) as predictor:
            run_live(predictor, open_source(str(video)), LiveOptions(realtime=False, max_frames=3),
                     on_result=lambda r: during.append(cv2.getNumThreads()))  # fmt: skip
        after = cv2.getNumThreads()
    finally:
        cv2.setNumThreads(-1)
    assert during == [1, 1, 1] and after == 2


def test_a_slow_model_drops_stale_frames_and_every_frame_is_accounted_for(samples_dir: Path, tmp_path: Path) -> None:
    fast = write_photo_video(tmp_path / "fast.mp4", samples_dir, fps=200.0, repeat=25, size=(96, 64))
    total = len(SAMPLE_VIDEO_PHOTOS) * 25
    seen: list[int] = []
    with FakeClassifier.create(latency_ms=40.0, threads=1) as slow:  # 25 FPS against a 200 FPS video
        summary = run_live(slow, open_source(str(fast)), on_result=lambda r: seen.append(r.frame.index))
    assert summary.pace == "native" and summary.stop_reason == "end of source"
    assert summary.captured == total and summary.failed == 0
    assert summary.dropped == sum(summary.drops.values()) > 0
    assert summary.frames + summary.dropped == total  # each frame was labelled or counted as dropped, once
    assert seen == sorted(set(seen)) and seen[-1] == total - 1 and len(seen) == summary.frames
    assert loop_threads() == []


class BadFrameSource(SyntheticSource):
    """Synthetic frames, one of which (``bad``) is not an image at all."""

    def __init__(self, frames: int, bad: int) -> None:
        super().__init__(64, 48, frames=frames)
        self.bad = bad

    def _read(self) -> Any:
        got = super()._read()
        if got is not None and self._index == self.bad:
            return np.zeros((2, 2, 2, 2), np.uint8), ""
        return got


def test_a_frame_that_cannot_be_preprocessed_is_counted_failed_and_the_loop_goes_on() -> None:
    events: list[str] = []
    seen: list[int] = []
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, BadFrameSource(8, bad=3), LiveOptions(realtime=False),
                           on_result=lambda r: seen.append(r.frame.index), on_event=events.append)  # fmt: skip
    assert seen == [0, 1, 2, 4, 5, 6, 7] and summary.failed == 1 and summary.frames == 7
    assert len(events) == 1 and "#3" in events[0] and "expected an HxW" in events[0]


def test_ctrl_c_in_the_loop_stops_both_threads_and_closes_the_source(video: Path) -> None:
    def interrupt(result: Any) -> None:
        if result.frame.index == 2:
            raise KeyboardInterrupt

    source = open_source(str(video))
    with FakeClassifier.create(threads=1, latency_ms=5.0) as predictor:
        summary = run_live(predictor, source, LiveOptions(realtime=False), on_result=interrupt)
    assert summary.stop_reason == "interrupted" and summary.frames == 3
    assert loop_threads() == []
    assert getattr(source, "cap") is None  # released


def test_stopping_early_leaves_no_thread_behind() -> None:
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, SyntheticSource(64, 48, fps=200), LiveOptions(max_frames=5))
    assert summary.stop_reason == "max frames" and summary.frames == 5
    assert loop_threads() == []


def test_slot_latest_wins_or_waits() -> None:
    latest: Slot[int] = Slot(drop=True)
    for i in range(3):
        assert latest.put(i)
    assert latest.get(0) == 2 and latest.dropped == 2 and latest.get(0) is None
    latest.close()
    assert latest.finished

    blocking: Slot[int] = Slot(drop=False)
    assert blocking.put(1)
    waiting = threading.Thread(target=lambda: blocking.put(2))
    waiting.start()
    assert blocking.get(5) == 1 and blocking.get(5) == 2 and blocking.dropped == 0
    waiting.join(5)
    assert blocking.put(3)
    stopped = threading.Thread(target=lambda: blocking.put(4))  # waits: the slot is full
    stopped.start()
    blocking.stop()  # releases the waiting producer without handing its item over
    stopped.join(5)
    assert not stopped.is_alive() and blocking.get(0) == 3


class TwoAtOnce(FakeClassifier):
    """Frame 0's model call waits (up to 20 s) until another model call has started, then finishes last: with two
    streams frame 1 runs beside it and is done first; the loop must still hand results over in frame order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.second_started = threading.Event()
        self.overlapped: bool | None = None
        self.run_threads: set[str] = set()
        self._lock = threading.Lock()
        self._calls = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.run_threads.add(threading.current_thread().name)
        with self._lock:
            first, self._calls = self._calls == 0, self._calls + 1
        if first:
            self.overlapped = self.second_started.wait(timeout=20)
        else:
            self.second_started.set()
        return super().run(batch)


def test_two_streams_run_two_frames_at_once_and_results_stay_in_frame_order(video: Path) -> None:
    from edge_infer.testing import fake_manifest

    seen: list[int] = []
    predictor = TwoAtOnce(fake_manifest(), threads=1)
    with predictor:
        summary = run_live(predictor, open_source(str(video)), LiveOptions(realtime=False, streams=2),
                           on_result=lambda r: seen.append(r.frame.index))  # fmt: skip
    assert predictor.overlapped is True  # frame 1 entered the model while frame 0 was in it
    assert seen == list(range(N_FRAMES)) and summary.frames == N_FRAMES and summary.dropped == 0
    assert predictor.run_threads == {"infer-0", "infer-1"} and summary.streams == 2
    assert "2 frames in the model at once" in summary.format()
    assert loop_threads() == []


def test_streams_refused_for_a_backend_that_cannot_run_concurrently() -> None:
    class OneAtATime(FakeClassifier):
        concurrent_runs = False

    from edge_infer.testing import fake_manifest

    source = SyntheticSource(64, 48, frames=3)
    with OneAtATime(fake_manifest(), threads=1) as predictor, pytest.raises(SpecError, match="several frames at once"):
        run_live(predictor, source, LiveOptions(streams=2))
    with pytest.raises(SpecError, match="streams must be"):
        LiveOptions(streams=0)


def test_ordered_workers_keep_take_order_and_hand_over_errors() -> None:
    import time

    slot: Slot[int] = Slot(drop=False)

    def work(i: int) -> int:
        if i == 2:
            raise InputError("bad item 2")
        time.sleep(0.02 if i % 2 == 0 else 0.0)  # odd items finish before the even one taken just before them
        return i * 10

    workers = OrderedWorkers(slot, work, 3).start()
    feeder = threading.Thread(target=lambda: ([slot.put(i) for i in range(7)], slot.close()))
    feeder.start()
    got = []
    while not workers.finished:
        outcome = workers.get(timeout=0.5)
        if outcome is not None:
            got.append((outcome.item, outcome.value, type(outcome.error).__name__ if outcome.error else None))
    feeder.join()
    assert got == [(0, 0, None), (1, 10, None), (2, None, "InputError"), (3, 30, None), (4, 40, None),
                   (5, 50, None), (6, 60, None)]  # fmt: skip
    assert workers.stop(timeout=1.0)
