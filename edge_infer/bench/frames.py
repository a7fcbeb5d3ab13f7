"""Inputs for end-to-end timing. Image models: decoded frames, the same HxWx3 uint8 arrays a camera or file source
hands over. Tabular models: feature rows (``load_rows``).

``--source`` takes anything ``edge_infer.sources.open_source`` accepts (``synthetic[:WxH]``, the default at
640x480, the same on every machine; image files, folders, globs, video files, cameras, streams), plus ``samples``
(the built-in real photos, through ``edge_infer.build``; needs the export extra). Frames are read once and kept decoded in memory, so disk and
codec time stay out of the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.errors import InputError, SourceError
from edge_infer.features import FeatureSpec, read_csv_rows
from edge_infer.images import to_rgb_uint8

DEFAULT_SOURCE = "synthetic"
MAX_FRAMES = 8
NOT_DECODED = frozenset({"synthetic"})  # source kinds that make frames in memory: no decode stage


@dataclass(frozen=True)
class Frames:
    """Decoded RGB frames (or, with ``kind="rows"``, feature rows) and the source spec they came from."""

    source: str
    images: tuple[np.ndarray, ...]
    kind: str = "frames"
    decode_ms: tuple[float, ...] = ()  # the source's read of each frame, when it decodes (files, videos)

    def describe(self) -> dict[str, Any]:
        if self.kind == "rows":
            return {"spec": self.source, "kind": "rows", "rows": len(self.images), "features": len(self.images[0])}
        shapes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in self.images})
        return {"spec": self.source, "frames": len(self.images), "sizes": shapes}


def _samples(count: int) -> tuple[np.ndarray, ...]:
    from edge_infer.build import sample_photos

    return tuple(sample_photos(count).values())


def _from_source(spec: str, count: int) -> tuple[tuple[np.ndarray, ...], tuple[float, ...]]:
    from edge_infer.sources import open_source

    frames: list[np.ndarray] = []
    decode: list[float] = []
    with open_source(spec) as source:
        for frame in source:
            frames.append(to_rgb_uint8(frame.image, frame.name, color_order=frame.color_order))
            decode.append(frame.read_ms)
            if len(frames) >= count:
                break
        decodes = source.kind not in NOT_DECODED
    return tuple(frames), tuple(decode) if decodes else ()


def load_frames(spec: str | None = None, *, count: int = MAX_FRAMES) -> Frames:
    """Up to ``count`` decoded RGB frames from ``spec``; a SourceError names a source that gives none."""
    spec = spec or DEFAULT_SOURCE
    images, decode = (_samples(count), ()) if spec == "samples" else _from_source(spec, count)
    if not images:
        raise SourceError(f"source {spec!r} gave no frames")
    return Frames(spec, images, decode_ms=decode)


def artifact_features(art: Artifact) -> FeatureSpec:
    """The feature names and range rules in a tabular artifact's manifest."""
    if art.manifest.features is None:
        raise SourceError(f"{art.path}: not a tabular artifact (its manifest has no features)")
    return art.manifest.features


def load_rows(spec: str | None, features: FeatureSpec, *, count: int = MAX_FRAMES) -> Frames:
    """Up to ``count`` feature rows for a tabular model: ``synthetic`` (default; uniform within each feature's range
    rule, [min, min + 1] when only a minimum is known, the same on every machine) or a CSV file of rows."""
    spec = spec or DEFAULT_SOURCE
    if spec == DEFAULT_SOURCE:
        rng = np.random.default_rng(0)
        cols = []
        for name in features.names:
            rule = features.rules.get(name, {})
            lo = float(rule.get("min", rule["max"] - 1.0 if "max" in rule else 0.0))
            hi = float(rule.get("max", lo + 1.0))
            cols.append(rng.uniform(lo, hi, count))
        return Frames(spec, tuple(np.stack(cols, axis=1)), kind="rows")
    if not spec.lower().endswith(".csv"):
        raise SourceError(f"source {spec!r}: a tabular model takes 'synthetic' or a CSV file of feature rows")
    rows = read_csv_rows(Path(spec), features.names)[:count]
    try:
        return Frames(spec, tuple(features.row_array(r, row=i) for i, r in enumerate(rows, start=1)), kind="rows")
    except InputError as exc:
        raise SourceError(f"{spec}: {exc}") from exc
