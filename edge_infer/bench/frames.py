"""Decoded frames for end-to-end timing: the same HxWx3 uint8 arrays a camera or file source hands over.

``--source`` takes anything ``edge_infer.sources.open_source`` accepts (``synthetic[:WxH]``, the default at
640x480, the same on every machine; image files, folders, globs, video files, cameras, streams), plus ``samples``
(the built-in real photos; needs the export extra). Frames are read once and kept decoded in memory, so disk and
codec time stay out of the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_infer.errors import SourceError
from edge_infer.images import to_rgb_uint8

DEFAULT_SOURCE = "synthetic"
MAX_FRAMES = 8


@dataclass(frozen=True)
class Frames:
    """Decoded RGB frames and the source spec they came from."""

    source: str
    images: tuple[np.ndarray, ...]

    def describe(self) -> dict[str, Any]:
        shapes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in self.images})
        return {"spec": self.source, "frames": len(self.images), "sizes": shapes}


def _samples(count: int) -> tuple[np.ndarray, ...]:
    from exporters.samples import DEMO_PHOTOS, load_photos

    return tuple(load_photos(DEMO_PHOTOS).values())[:count]


def _from_source(spec: str, count: int) -> tuple[np.ndarray, ...]:
    from edge_infer.sources import open_source

    frames: list[np.ndarray] = []
    with open_source(spec) as source:
        for frame in source:
            frames.append(to_rgb_uint8(frame.image, frame.name, color_order=frame.color_order))
            if len(frames) >= count:
                break
    return tuple(frames)


def load_frames(spec: str | None = None, *, count: int = MAX_FRAMES) -> Frames:
    """Up to ``count`` decoded RGB frames from ``spec``; a SourceError names a source that gives none."""
    spec = spec or DEFAULT_SOURCE
    images = _samples(count) if spec == "samples" else _from_source(spec, count)
    if not images:
        raise SourceError(f"source {spec!r} gave no frames")
    return Frames(spec, images)
