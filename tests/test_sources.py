"""Frame sources: every kind opens from its spec, yields indexed, timestamped frames, and fails with a clear
SourceError on bad input (missing camera, unreadable video, empty folder)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLE_VIDEO_PHOTOS, SAMPLE_VIDEO_REPEAT

from edge_infer.errors import SourceError
from edge_infer.images import read_path
from edge_infer.sources import (
    CameraSource,
    FolderSource,
    GlobSource,
    ImageFileSource,
    Picamera2Source,
    StreamSource,
    SyntheticSource,
    VideoFileSource,
    open_source,
)


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("synthetic", SyntheticSource),
        ("synthetic:64x48@15", SyntheticSource),
        ("picamera2", Picamera2Source),
        ("picamera2:1", Picamera2Source),
        ("rtsp://192.0.2.1/stream", StreamSource),
        ("http://127.0.0.1:8080/video.mjpg", StreamSource),
        ("0", CameraSource),
        ("/dev/video3", CameraSource),
    ],
)
def test_specs_pick_the_right_source(spec: str, cls: type) -> None:
    assert type(open_source(spec)) is cls


def test_path_specs(samples_dir: Path, sample_video: Path) -> None:
    assert type(open_source(str(samples_dir))) is FolderSource
    assert type(open_source(str(samples_dir / "flower.jpg"))) is ImageFileSource
    assert type(open_source(f"{samples_dir}/*.png")) is GlobSource
    assert type(open_source(str(sample_video))) is VideoFileSource
    s = open_source("synthetic:64x48@15")
    assert (s.width, s.height, s.fps) == (64, 48, 15.0)  # type: ignore[attr-defined]
    assert open_source("picamera2:1").index == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no/such/file.jpg", "no such file or folder"),
        ("synthetic:big", "expected synthetic"),
        ("synthetic:0x10", "out of range"),
        ("ftp://host/x", "unsupported URL scheme"),
        ("", "empty source"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(spec).open()


def test_folder_is_recursive_sorted_and_skips_unreadable_files(samples_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    shutil.copyfile(samples_dir / "flower.jpg", tmp_path / "b" / "deep" / "2.jpg")
    shutil.copyfile(samples_dir / "coffee.png", tmp_path / "a.png")
    (tmp_path / "b" / "1_corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes((samples_dir / "flower.jpg").read_bytes())
    with open_source(str(tmp_path)) as source:
        frames = list(source)
        assert [Path(f.name).relative_to(tmp_path).as_posix() for f in frames] == ["a.png", "b/deep/2.jpg"]
        assert [f.index for f in frames] == [0, 1]
        assert all(f.color_order == "rgb" and f.source == str(tmp_path) for f in frames)
        assert frames[0].timestamp <= frames[1].timestamp
        np.testing.assert_array_equal(frames[1].image, read_path(samples_dir / "flower.jpg"))
        assert [Path(s.name).name for s in source.skipped] == ["1_corrupt.jpg"]
        assert "1_corrupt.jpg" in source.skipped[0].error


def test_empty_folder_and_empty_glob(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="folder has no image files"):
        open_source(str(tmp_path)).open()
    with pytest.raises(SourceError, match="matches no image files"):
        open_source(f"{tmp_path}/*.jpg").open()


def test_single_image_and_unreadable_image(samples_dir: Path, tmp_path: Path) -> None:
    with open_source(str(samples_dir / "coffee.png")) as source:
        [frame] = list(source)
    assert frame.image.shape[2] == 3 and frame.name == str(samples_dir / "coffee.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(SourceError, match="broken.png"), open_source(str(bad)) as source:
        list(source)


def test_video_frames_are_bgr_indexed_and_match_the_photos(sample_video: Path, samples_dir: Path) -> None:
    with open_source(str(sample_video)) as source:
        assert source.fps == pytest.approx(30.0)
        assert source.frame_count == len(SAMPLE_VIDEO_PHOTOS) * SAMPLE_VIDEO_REPEAT  # type: ignore[attr-defined]
        frames = list(source)
    assert [f.index for f in frames] == list(range(len(SAMPLE_VIDEO_PHOTOS) * SAMPLE_VIDEO_REPEAT))
    assert all(f.color_order == "bgr" and f.image.shape == (240, 320, 3) for f in frames)
    assert all(a.timestamp <= b.timestamp for a, b in zip(frames, frames[1:]))
    for i, name in enumerate(SAMPLE_VIDEO_PHOTOS):  # lossy codec: close to the photo, far from the others
        photo = cv2.resize(cv2.imread(str(samples_dir / name)), (320, 240), interpolation=cv2.INTER_AREA)
        own = frames[i * SAMPLE_VIDEO_REPEAT : (i + 1) * SAMPLE_VIDEO_REPEAT]
        assert max(np.abs(f.image.astype(int) - photo).mean() for f in own) < 8, name
        other = frames[(i + 1) % len(SAMPLE_VIDEO_PHOTOS) * SAMPLE_VIDEO_REPEAT]
        assert np.abs(other.image.astype(int) - photo).mean() > 20, name


def test_video_frames_predict_like_the_photos(default_onnx: Path, sample_video: Path, samples_dir: Path) -> None:
    """The frame's colour order travels with it: a BGR video frame is classified like the photo it shows."""
    from edge_infer import load

    with load(default_onnx) as predictor, open_source(str(sample_video)) as source:
        firsts = [f for f in source if f.index % SAMPLE_VIDEO_REPEAT == 0]
        for frame, name in zip(firsts, SAMPLE_VIDEO_PHOTOS):
            photo = cv2.resize(cv2.imread(str(samples_dir / name)), (320, 240), interpolation=cv2.INTER_AREA)
            expected = predictor.predict(photo, color_order="bgr")
            got = predictor.predict(frame.image, color_order=frame.color_order)
            assert expected.label in [c.label for c in got.top_k[:3]], name  # lossy codec: near the photo's answer
            swapped = predictor.predict(frame.image, color_order="rgb")  # the wrong order changes the scores
            assert abs(swapped.score - got.score) > 1e-3 or swapped.label != got.label
        assert predictor.predict(firsts[1].image, color_order="bgr").label == "espresso"


def test_unreadable_and_missing_videos(tmp_path: Path) -> None:
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="cannot open as a video"):
        open_source(str(junk)).open()
    with pytest.raises(SourceError, match="video file not found"):
        VideoFileSource(tmp_path / "gone.mp4").open()


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match=r"camera 57: cannot open \(no such camera"):
        open_source("57").open()
    with pytest.raises(SourceError, match="camera /dev/video57: cannot open"):
        open_source("/dev/video57").open()


def test_unreachable_stream_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="cannot open stream"):
        StreamSource("rtsp://127.0.0.1:1/none", timeout_ms=2000).open()


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_picamera2_missing_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="needs the picamera2 library.*apt install python3-picamera2"):
        open_source("picamera2").open()


def test_synthetic_is_deterministic_and_moves() -> None:
    with SyntheticSource(64, 48, frames=3) as a, SyntheticSource(64, 48, frames=3) as b:
        fa, fb = list(a), list(b)
    assert len(fa) == 3 and fa[0].image.shape == (48, 64, 3) and fa[0].image.dtype == np.uint8
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x.image, y.image)
    assert not np.array_equal(fa[0].image, fa[1].image)
    assert [f.name for f in fa] == ["synthetic:64x48#0", "synthetic:64x48#1", "synthetic:64x48#2"]


def test_reopen_keeps_counting(sample_video: Path) -> None:
    source = open_source(str(sample_video)).open()
    try:
        first = source.read()
        source.reopen()
        again = source.read()
    finally:
        source.close()
    assert first is not None and again is not None and (first.index, again.index) == (0, 1)
    np.testing.assert_array_equal(first.image, again.image)  # reopened at the start of the file
