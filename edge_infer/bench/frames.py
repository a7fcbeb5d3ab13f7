"""Decoded frames for end-to-end timing: the same HxWx3 uint8 RGB arrays a camera or file source hands over.

``--source`` spellings: ``synthetic`` or ``synthetic:WxH`` (seeded noise, default 640x480, the same everywhere),
``samples`` (the built-in real photos; needs the export extra), an image file / folder / glob, or anything
``edge_infer.sources.open_source`` accepts (video files, camera) once that module is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import EdgeInferError, SourceError
from edge_infer.images import load_image, to_rgb_uint8
from edge_infer.inputs import expand_inputs

DEFAULT_SOURCE = "synthetic"
MAX_FRAMES = 8


@dataclass(frozen=True)
class Frames:
    """Frames kept decoded in memory (so disk and codec time stay out of the measurement), and where from."""

    source: str
    images: tuple[np.ndarray, ...]

    def describe(self) -> dict[str, Any]:
        shapes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in self.images})
        return {"spec": self.source, "frames": len(self.images), "sizes": shapes}


def _synthetic(spec: str, count: int) -> tuple[np.ndarray, ...]:
    m = re.fullmatch(r"synthetic(?::(\d+)x(\d+))?", spec)
    if not m:
        raise SourceError(f"source {spec!r}: write synthetic or synthetic:WIDTHxHEIGHT, e.g. synthetic:640x480")
    w, h = (int(m.group(1)), int(m.group(2))) if m.group(1) else (640, 480)
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise SourceError(f"source {spec!r}: width and height must be between 16 and 8192")
    rng = np.random.default_rng(0)
    return tuple(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(min(count, 2)))


def _samples(count: int) -> tuple[np.ndarray, ...]:
    from exporters.samples import DEMO_PHOTOS, load_photos

    return tuple(load_photos(DEMO_PHOTOS).values())[:count]


def _files(spec: str, count: int) -> tuple[np.ndarray, ...] | None:
    items = [i for i in expand_inputs([spec]) if i.error is None]
    if not items:
        return None
    return tuple(load_image(i.path) for i in items[:count])


def _frame_array(frame: Any) -> np.ndarray:
    if isinstance(frame, np.ndarray):
        return to_rgb_uint8(frame, "<frame>")
    for attr in ("rgb", "image", "array", "data"):
        value = getattr(frame, attr, None)
        if isinstance(value, np.ndarray):
            order = getattr(frame, "color_order", "rgb")
            return to_rgb_uint8(value, "<frame>", color_order=order)
    raise SourceError(f"frame source gave a {type(frame).__name__}, not an image array")


def _open_source(spec: str, count: int) -> tuple[np.ndarray, ...] | None:
    if importlib.util.find_spec("edge_infer.sources") is None:
        return None
    open_source = getattr(importlib.import_module("edge_infer.sources"), "open_source", None)
    if open_source is None:
        return None
    source = open_source(spec)
    frames: list[np.ndarray] = []
    try:
        for frame in source:
            frames.append(_frame_array(frame))
            if len(frames) >= count:
                break
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()
    return tuple(frames)


def load_frames(spec: str | None = None, *, count: int = MAX_FRAMES) -> Frames:
    """Up to ``count`` decoded RGB frames from ``spec``; a SourceError names a source that gives none."""
    spec = spec or DEFAULT_SOURCE
    if spec.startswith("synthetic"):
        images = _synthetic(spec, count)
    elif spec == "samples":
        images = _samples(count)
    else:
        try:
            images = _open_source(spec, count)
        except EdgeInferError:
            if not Path(spec).exists():
                raise
            images = None
        if images is None:
            images = _files(spec, count)
        if images is None:
            raise SourceError(
                f"unknown source {spec!r}: not an image file, folder or glob with images "
                f"(also accepted: synthetic, synthetic:WxH, samples)"
            )
    if not images:
        raise SourceError(f"source {spec!r} gave no frames")
    return Frames(spec, tuple(images))
