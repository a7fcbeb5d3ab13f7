"""A camera through OpenCV: ``0`` (index) or ``/dev/video0`` (device path). Live and reconnectable."""

from __future__ import annotations

import glob
from typing import Any

import cv2
import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.capture import CaptureSource


def video_devices() -> list[str]:
    """Video device nodes present on this machine (Linux), for error messages."""
    return sorted(glob.glob("/dev/video*"))


class CameraSource(CaptureSource):
    """A USB/V4L2 webcam (or any camera OpenCV opens). Frames are BGR. When the camera stops delivering frames
    (unplugged), ``read()`` raises SourceError and ``reopen()`` tries to get it back."""

    kind = "camera"
    live = True
    reconnectable = True

    def __init__(self, device: int | str, *, width: int | None = None, height: int | None = None) -> None:
        super().__init__(f"camera {device}")
        self.device = device
        self.width = width
        self.height = height

    def _capture(self) -> Any:
        cap = cv2.VideoCapture(self.device)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer stale frames queued in the driver, where supported
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        return cap

    def _cannot_open(self) -> SourceError:
        devices = video_devices()
        found = f"video devices present: {', '.join(devices)}" if devices else "no /dev/video* devices on this machine"
        return SourceError(f"{self.name}: cannot open (no such camera, or it is busy or not permitted; {found})")

    def _no_first_frame(self) -> SourceError:
        return SourceError(
            f"{self.name}: opened but delivered no frame (a metadata node rather than a capture device? "
            "try the next index)"
        )

    def _read(self) -> tuple[np.ndarray, str] | None:
        image = self._next_image()
        if image is None:
            raise SourceError(f"{self.name}: stopped delivering frames (unplugged or in use elsewhere?)")
        return image, ""
