"""The live loop: the real capture thread, a real video file; drops, reconnection, the CLI. The loop logic runs on
the fake model (``edge_infer.testing``: a real Predictor whose model call can take a set time); the real model
labels a real video and a folder of photos end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from conftest import SAMPLE_VIDEO_PHOTOS, SAMPLE_VIDEO_REPEAT, write_photo_video

from edge_infer.errors import SourceError
from edge_infer.live import FrameGrabber, LiveOptions, LiveResult, run_live
from edge_infer.overlay import draw_overlay, gui_problem
from edge_infer.sources import SyntheticSource, open_source
from edge_infer.testing import FakeClassifier

N_FRAMES = len(SAMPLE_VIDEO_PHOTOS) * SAMPLE_VIDEO_REPEAT
BOX = (slice(0, 40), slice(0, 150))  # top-left: where the overlay is drawn on a 320x240 frame
REST = (slice(120, 240), slice(160, 320))  # bottom-right: untouched


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def test_run_headless_to_the_end_writes_an_annotated_video(
    default_onnx: Path, sample_video: Path, tmp_path: Path
) -> None:
    out = tmp_path / "annotated.mp4"
    r = cli("run", default_onnx, "--source", sample_video, "--save", out, "--json", "--no-realtime", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "running headless" in r.stderr  # no --headless, but this OpenCV (or machine) cannot show a window
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    frames, summary = lines[:-1], lines[-1]["summary"]
    assert [f["index"] for f in frames] == list(range(N_FRAMES))  # --no-realtime: every frame, in order
    assert {"capture", "preprocess", "inference", "latency"} <= set(frames[0]["timings_ms"])
    assert len(frames[0]["top_k"]) == 3
    assert frames[SAMPLE_VIDEO_REPEAT]["label"] == "espresso"
    assert summary["frames"] == summary["captured"] == N_FRAMES and summary["dropped"] == 0
    assert summary["stop_reason"] == "end of source" and summary["fps"] > 0
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert "FPS" in r.stderr and "dropped 0" in r.stderr and "latency capture->result p50" in r.stderr

    source, annotated = read_video(sample_video), read_video(out)
    assert len(annotated) == N_FRAMES and annotated[0].shape == source[0].shape
    for a, s in zip(annotated, source):
        box_diff = np.abs(a[BOX].astype(int) - s[BOX]).mean()
        rest_diff = np.abs(a[REST].astype(int) - s[REST]).mean()
        assert box_diff > 25 and rest_diff < 8, (box_diff, rest_diff)  # the overlay, and only the overlay


def test_slow_model_on_a_fast_video_drops_frames_instead_of_lagging(samples_dir: Path, tmp_path: Path) -> None:
    fast = write_photo_video(tmp_path / "fast.mp4", samples_dir, fps=200.0, repeat=25, size=(96, 64))
    total = len(SAMPLE_VIDEO_PHOTOS) * 25
    with FakeClassifier.create(latency_ms=40.0, threads=1) as slow:  # 40 ms a frame: too slow for 200 FPS
        seen: list[int] = []
        summary = run_live(slow, open_source(str(fast)), on_result=lambda r: seen.append(r.frame.index))
        assert summary.stop_reason == "end of source" and summary.error is None
        assert summary.captured == total  # every frame was read (paced at 200 FPS) ...
        assert summary.dropped > 0 and summary.frames == len(seen) < total  # ... most were too old to be worth it
        assert summary.frames + summary.dropped == total  # each frame is either processed or counted as dropped
        assert seen == sorted(seen) and seen[-1] == total - 1  # always the newest; the last scene gets its label
        assert max(b - a for a, b in zip(seen, seen[1:])) > 1
        # the same video, not real time: every frame, none dropped
        full = run_live(slow, open_source(str(fast)), LiveOptions(realtime=False, max_frames=30))
        assert (full.frames, full.dropped, full.stop_reason) == (30, 0, "max frames")


def test_grabber_keeps_only_the_newest_frame() -> None:
    """The real capture thread at 500 FPS against a consumer that takes a frame every 30 ms."""
    source = SyntheticSource(32, 24, fps=500, frames=200).open()
    grabber = FrameGrabber(source, drop=True, pace_fps=500).start()
    taken = []
    try:
        while not grabber.finished:
            frame = grabber.get(timeout=0.5)
            if frame is not None:
                taken.append(frame.index)
                time.sleep(0.03)
    finally:
        assert grabber.stop()
        source.close()
    assert grabber.captured == 200 and grabber.dropped == 200 - len(taken) > 0
    assert taken == sorted(set(taken)) and taken[-1] == 199


class FlakyCamera(SyntheticSource):
    """Stands in for camera hardware (none on CI): frames at 100 FPS, unplugged after ``fail_at`` frames, and
    back after ``down_for`` failed reopen attempts (None: never back)."""

    live = True
    reconnectable = True

    def __init__(self, fail_at: int, down_for: int | None) -> None:
        super().__init__(32, 24)
        self.name = "camera flaky"
        self.fail_at, self.down_for, self.reopens = fail_at, down_for, 0
        self._unplugged = False

    def _read(self) -> Any:
        time.sleep(0.01)
        if self._unplugged or (self._index == self.fail_at and self.reopens == 0):
            self._unplugged = True
            raise SourceError(f"{self.name}: stopped delivering frames")
        return super()._read()

    def _open(self) -> None:
        if self._unplugged:
            self.reopens += 1
            if self.down_for is None or self.reopens <= self.down_for:
                raise SourceError(f"{self.name}: cannot open")
            self._unplugged = False
        super()._open()


def test_a_camera_that_comes_back_is_reconnected() -> None:
    events: list[str] = []
    camera = FlakyCamera(fail_at=5, down_for=2)
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, camera, LiveOptions(max_frames=8, backoff_s=0.01), on_event=events.append)
    assert summary.frames == 8 and summary.reconnects == 1 and summary.error is None, summary.format()
    assert [e.split(";")[-1].strip() for e in events] == [
        "reconnecting in 0.01 s (attempt 1/5)", "reconnecting in 0.02 s (attempt 2/5)",
        "reconnecting in 0.04 s (attempt 3/5)", "camera flaky: reconnected after 3 attempt(s)",
    ]  # fmt: skip
    assert "reconnected 1 time(s)" in summary.format()


def test_a_camera_that_never_comes_back_ends_the_run_with_a_report() -> None:
    camera = FlakyCamera(fail_at=3, down_for=None)
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, camera, LiveOptions(retries=2, backoff_s=0.01))
    assert summary.stop_reason == "source lost" and summary.frames >= 1
    assert summary.error is not None and "gave up after 2 reconnection attempt(s)" in summary.error
    assert "source error: camera flaky: cannot open" in summary.format()


def test_overlay_shows_label_fps_and_stage_times(sample_video: Path) -> None:
    from edge_infer.overlay import overlay_lines

    with open_source(str(sample_video)) as source, FakeClassifier.create() as predictor:
        frame = source.read()
        assert frame is not None
        pred = predictor.predict(frame.image, color_order="bgr")
    timings = {"capture": 1.5, "preprocess": 2.0, "inference": 30.0}
    result = LiveResult(frame=frame, prediction=pred, timings_ms=timings, fps=12.3, dropped=4)
    lines = overlay_lines(result)
    assert lines[0].startswith(pred.label[:10]) and "12.3 FPS" in lines[1] and "dropped 4" in lines[1]
    assert "capture 1.5" in lines[2] and "pre 2.0" in lines[2] and "infer 30.0" in lines[2]
    image = draw_overlay(result)
    assert image.shape == frame.image.shape and not np.array_equal(image[BOX], frame.image[BOX])
    np.testing.assert_array_equal(image[REST], frame.image[REST])


def test_ctrl_c_stops_cleanly_with_a_summary(fake_artifact: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_infer", "run", fake_artifact, "--source", "synthetic:64x48@30", "--headless",
         "--json", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]  # the loop is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["stop_reason"] == "interrupted" and summary["frames"] >= 3
    assert json.loads(lines[0])["index"] >= 0 and "Traceback" not in err and "stopped (interrupted)" in err


def test_bad_sources_are_one_line_errors(fake_artifact: Path, tmp_path: Path, sample_video: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    (tmp_path / "empty").mkdir()
    cases = [
        (["--source", "57"], "camera 57: cannot open"),
        (["--source", junk], "cannot open as a video"),
        (["--source", tmp_path / "empty"], "folder has no image files"),
        (["--source", sample_video, "--save", tmp_path / "out.gif"], "cannot save video as '.gif'"),
        (["--source", sample_video, "--max-frames", "0"], "max_frames must be at least 1"),
    ]
    for args, message in cases:
        r = cli("run", fake_artifact, *args, "--headless")
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_folder_with_a_corrupt_image_keeps_going(default_onnx: Path, samples_dir: Path, tmp_path: Path) -> None:
    for i, name in enumerate(["flower.jpg", "coffee.png"]):
        (tmp_path / f"{2 * i}_{name}").write_bytes((samples_dir / name).read_bytes())
    (tmp_path / "1_corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    r = cli("run", default_onnx, "--source", tmp_path, "--headless", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(f["name"]).name for f in lines[:-1]] == ["0_flower.jpg", "2_coffee.png"]
    assert [f["label"] for f in lines[:-1]] == ["daisy", "espresso"]
    [skipped] = lines[-1]["summary"]["skipped"]
    assert skipped["input"].endswith("1_corrupt.jpg") and "1_corrupt.jpg" in r.stderr


def test_no_window_without_a_gui() -> None:
    gui = next(x for x in cv2.getBuildInformation().splitlines() if x.strip().startswith("GUI:"))
    if "NONE" in gui:  # opencv-python-headless, as installed here
        assert "no GUI" in (gui_problem() or "")


def test_duration_stops_an_endless_source() -> None:
    with FakeClassifier.create(threads=1) as predictor:
        summary = run_live(predictor, SyntheticSource(64, 48, fps=50), LiveOptions(duration_s=1.0))
    assert summary.stop_reason == "duration" and summary.frames >= 1
    assert threading.active_count() < 10  # the capture thread is gone
