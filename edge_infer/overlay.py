"""What the live loop shows and records: the overlay drawn with OpenCV, an optional window, an annotated video."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_infer.errors import SpecError
from edge_infer.live import LiveResult

# container suffix -> FourCC that OpenCV's bundled FFmpeg writes without extra codecs
FOURCC: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def to_bgr(image: np.ndarray, color_order: str) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    image = image[:, :, :3]
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if color_order == "rgb" else np.ascontiguousarray(image)


def overlay_lines(result: LiveResult) -> list[str]:
    t = result.timings_ms
    text = [
        f"{result.prediction.label} {result.prediction.score:.2f}",
        f"{result.fps:.1f} FPS  dropped {result.dropped}",
        f"capture {t.get('capture', 0):.1f}  pre {t.get('preprocess', 0):.1f}  infer {t.get('inference', 0):.1f} ms",
    ]
    return [line.encode("ascii", "replace").decode() for line in text]  # Hershey fonts are ASCII only


def draw_overlay(result: LiveResult) -> np.ndarray:
    """A BGR copy of the frame with top label, score, FPS, drops and per-stage milliseconds in the top-left."""
    img = to_bgr(result.frame.image, result.frame.color_order).copy()
    h, w = img.shape[:2]
    scale = max(0.35, min(1.0, w / 900))
    thick = 1 if scale < 0.6 else 2
    lines = overlay_lines(result)
    sizes = [cv2.getTextSize(line, FONT, scale, thick)[0] for line in lines]
    step = int(max(s[1] for s in sizes) * 1.8) + 2
    box_w, box_h = min(w, max(s[0] for s in sizes) + 12), min(h, step * len(lines) + 8)
    img[:box_h, :box_w] = (img[:box_h, :box_w] * 0.3).astype(np.uint8)  # darken behind the text
    for i, line in enumerate(lines):
        cv2.putText(img, line, (6, step * (i + 1)), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def gui_problem() -> str | None:
    """Why no window can be shown here, or None if one can."""
    info = cv2.getBuildInformation()
    gui = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if gui.upper() == "NONE":
        return "this OpenCV build has no GUI (opencv-python-headless); install opencv-python for a window"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display ($DISPLAY is not set)"
    return None


class Window:
    """An OpenCV window; ``show()`` returns False when the user pressed q / Esc or closed the window."""

    def __init__(self, title: str) -> None:
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def open_window(title: str) -> tuple[Window | None, str | None]:
    """A window, or (None, why not) when there is no usable display."""
    problem = gui_problem()
    if problem is not None:
        return None, problem
    try:
        return Window(title), None
    except cv2.error as exc:
        return None, f"cannot open a window ({str(exc).strip().splitlines()[-1]})"


class VideoSaver:
    """Writes annotated frames to a video file at ``fps``. A frame index gap (frames dropped by the live loop)
    repeats the previous annotated frame, so the recording keeps the source's timeline and shows exactly what a
    window would have shown. Frames of another size are resized to the first frame's size."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise SpecError(f"{self.path}: cannot save video as {self.path.suffix or 'no suffix'!r} "
                            f"(use one of {', '.join(sorted(FOURCC))})")  # fmt: skip
        if not self.path.parent.is_dir():
            raise SpecError(f"{self.path}: folder {self.path.parent} does not exist")
        self.fps = fps
        self.frames_written = 0
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._last: np.ndarray | None = None
        self._last_index: int | None = None

    def write(self, image: np.ndarray, index: int) -> None:
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            fourcc = cv2.VideoWriter.fourcc(*FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise SpecError(f"{self.path}: OpenCV cannot write this video file")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        if self._last is not None and self._last_index is not None:
            for _ in range(max(0, index - self._last_index - 1)):
                self._writer.write(self._last)
                self.frames_written += 1
        self._writer.write(image)
        self.frames_written += 1
        self._last, self._last_index = image, index

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
