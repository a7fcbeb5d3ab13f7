"""Synthetic frames (a moving colour pattern) for tests and benchmarks: no hardware, no files, deterministic."""

from __future__ import annotations

import numpy as np

from edge_infer.errors import SourceError
from edge_infer.sources.base import Source


class SyntheticSource(Source):
    """``width`` x ``height`` RGB frames; frame ``i`` is always the same image. ``fps`` is the nominal rate the live
    loop paces it at (None: as fast as it is read); ``frames`` ends it after that many (None: endless)."""

    kind = "synthetic"
    color_order = "rgb"

    def __init__(
        self, width: int = 640, height: int = 480, *, fps: float | None = None, frames: int | None = None
    ) -> None:
        if width < 1 or height < 1 or width * height > 64_000_000:
            raise SourceError(f"synthetic: frame size {width}x{height} is out of range")
        if fps is not None and not 0 < fps <= 1000:
            raise SourceError(f"synthetic: fps must be in (0, 1000], got {fps:g}")
        super().__init__(f"synthetic:{width}x{height}" + (f"@{fps:g}" if fps else ""))
        self.width, self.height, self.frames = width, height, frames
        self.fps = fps
        self._pattern = np.empty((0, 0, 3), np.uint8)

    def _open(self) -> None:
        y, x = np.mgrid[0 : self.height, 0 : 2 * self.width]
        r = (255 * x / max(1, 2 * self.width - 1)).astype(np.uint8)
        g = (255 * y / max(1, self.height - 1)).astype(np.uint8)
        b = (((x // 16) + (y // 16)) % 2 * 255).astype(np.uint8)
        self._pattern = np.dstack([r, g, b])

    def _read(self) -> tuple[np.ndarray, str] | None:
        i = self._index
        if self.frames is not None and i >= self.frames:
            return None
        shift = (i * 7) % self.width
        return np.ascontiguousarray(self._pattern[:, shift : shift + self.width]), ""
