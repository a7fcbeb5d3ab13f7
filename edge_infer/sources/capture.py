"""The shared OpenCV ``VideoCapture`` reader behind the video-file, camera and network-stream sources."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.base import Source

# FFmpeg's own log lines ("moov atom not found") would precede our one-line error; keep only its fatal messages.
# Read by OpenCV when it first uses FFmpeg; set the variable yourself to see more.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while opening: failures are reported by us, once, in one line."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def nominal_fps(cap: Any) -> float | None:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.0 < fps <= 1000.0 else None


class CaptureSource(Source):
    """A source read through ``cv2.VideoCapture`` (frames are BGR). The first frame is read at open time, so a
    device or file that opens but cannot deliver frames fails early with a clear message."""

    color_order = "bgr"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.cap: Any = None
        self._pending: np.ndarray | None = None

    def _capture(self) -> Any:
        """Create the VideoCapture (not yet checked)."""
        raise NotImplementedError

    def _cannot_open(self) -> SourceError:
        return SourceError(f"{self.name}: cannot open")

    def _no_first_frame(self) -> SourceError:
        return SourceError(f"{self.name}: opened but delivered no frame")

    def _open(self) -> None:
        with quiet_opencv():
            cap = self._capture()
            opened = cap.isOpened()
            ok, image = cap.read() if opened else (False, None)
        if not opened:
            cap.release()
            raise self._cannot_open()
        if not ok or image is None:
            cap.release()
            raise self._no_first_frame()
        self.cap = cap
        self._pending = image
        self.fps = nominal_fps(cap)

    def _next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self.cap.read()
        return image if ok and image is not None else None

    def _close(self) -> None:
        if self.cap is not None:
            self.cap.release()
        self.cap = None
        self._pending = None

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) reported by the capture, when open."""
        if self.cap is None:
            return None
        return int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
