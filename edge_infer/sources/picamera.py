"""The Raspberry Pi camera (CSI) through picamera2, which the current libcamera stack needs (``cv2.VideoCapture``
cannot open it). picamera2 is imported only when this source is opened."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.base import Source

INSTALL_HINT = (
    "install it with `sudo apt install python3-picamera2` on Raspberry Pi OS, and create the virtual environment "
    "with `--system-site-packages` so it is visible"
)


def import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise SourceError(f"picamera2: the Raspberry Pi camera needs the picamera2 library, which is not installed; "
                          f"{INSTALL_HINT}") from exc  # fmt: skip
    return Picamera2


class Picamera2Source(Source):
    """Raspberry Pi camera ``index`` (``picamera2`` or ``picamera2:1``) at ``width`` x ``height``. picamera2's
    "RGB888" format is laid out B, G, R in memory, so frames are BGR like OpenCV's."""

    kind = "picamera2"
    live = True
    reconnectable = True
    color_order = "bgr"

    def __init__(self, index: int = 0, *, width: int = 640, height: int = 480) -> None:
        super().__init__(f"picamera2:{index}")
        self.index = index
        self.size = (width, height)
        self.camera: Any = None

    def _open(self) -> None:
        picamera2 = import_picamera2()
        cameras = picamera2.global_camera_info()
        if self.index >= len(cameras):
            raise SourceError(f"{self.name}: no such camera (libcamera sees {len(cameras)} camera(s))")
        try:
            camera = picamera2(self.index)
            camera.configure(camera.create_video_configuration(main={"size": self.size, "format": "RGB888"}))
            camera.start()
        except Exception as exc:  # picamera2 raises RuntimeError / its own types
            raise SourceError(f"{self.name}: cannot start the camera ({exc})") from exc
        self.camera = camera

    def _read(self) -> tuple[np.ndarray, str] | None:
        try:
            return self.camera.capture_array("main"), ""
        except Exception as exc:
            raise SourceError(f"{self.name}: stopped delivering frames ({exc})") from exc

    def _close(self) -> None:
        if self.camera is not None:
            try:
                self.camera.stop()
                self.camera.close()
            except Exception:  # a camera that vanished cannot be stopped cleanly; nothing left to release
                pass
        self.camera = None
