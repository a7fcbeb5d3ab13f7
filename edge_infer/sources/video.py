"""A video file read with OpenCV (FFmpeg): a finite source with a nominal frame rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.capture import CaptureSource

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})


class VideoFileSource(CaptureSource):
    """Frames of a video file in order; ``fps`` is the file's frame rate, ``frame_count`` its length (if known)."""

    kind = "video"

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))
        self.path = Path(path)

    def _capture(self) -> Any:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: video file not found")
        return cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)

    def _cannot_open(self) -> SourceError:
        return SourceError(f"{self.path}: cannot open as a video (not a video file, damaged, or an unsupported codec)")

    def _no_first_frame(self) -> SourceError:
        return SourceError(f"{self.path}: video has no decodable frames (damaged or an unsupported codec)")

    def _read(self) -> tuple[np.ndarray, str] | None:
        image = self._next_image()
        return None if image is None else (image, "")

    @property
    def frame_count(self) -> int | None:
        if self.cap is None:
            return None
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return n if n > 0 else None
