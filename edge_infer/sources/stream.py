"""A network stream OpenCV opens through FFmpeg (``rtsp://``, ``http://``, ...). Live and reconnectable."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.capture import CaptureSource

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
TIMEOUT_MS = 10_000


class StreamSource(CaptureSource):
    """An IP camera or stream URL. Frames are BGR. When the stream ends or stalls, ``read()`` raises SourceError
    and ``reopen()`` connects again. Opening and reading time out after 10 s instead of hanging."""

    kind = "stream"
    live = True
    reconnectable = True

    def __init__(self, url: str, *, timeout_ms: int = TIMEOUT_MS) -> None:
        super().__init__(url)
        self.url = url
        self.timeout_ms = timeout_ms

    def _capture(self) -> Any:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)

    def _cannot_open(self) -> SourceError:
        return SourceError(f"{self.url}: cannot open stream (unreachable, wrong URL or unsupported protocol)")

    def _no_first_frame(self) -> SourceError:
        return SourceError(f"{self.url}: stream opened but delivered no frame within {self.timeout_ms / 1000:g} s")

    def _read(self) -> tuple[np.ndarray, str] | None:
        image = self._next_image()
        if image is None:
            raise SourceError(f"{self.url}: stream ended or stopped delivering frames")
        return image, ""
