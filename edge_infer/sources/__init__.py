"""Frame sources: image files, folders, globs, video files, cameras, network streams, the Raspberry Pi camera
(picamera2) and synthetic frames, behind one interface (``Source``) and one front door (``open_source``).

    with open_source("clip.mp4") as source:
        for frame in source:
            predictor.predict(frame.image, color_order=frame.color_order)
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_infer.errors import SourceError
from edge_infer.registry import Registry
from edge_infer.sources.paths import is_image_name
from edge_infer.sources.base import Frame, SkippedInput, Source
from edge_infer.sources.camera import CameraSource
from edge_infer.sources.files import FilesSource, ImageFileSource
from edge_infer.sources.folder import FolderSource, GlobSource
from edge_infer.sources.picamera import Picamera2Source
from edge_infer.sources.stream import STREAM_SCHEMES, StreamSource
from edge_infer.sources.synthetic import SyntheticSource
from edge_infer.sources.video import VideoFileSource

_SYNTHETIC = re.compile(r"^synthetic(?::(\d+)x(\d+))?(?:@(\d+(?:\.\d+)?))?$")
_PICAMERA = re.compile(r"^picamera2(?::(\d+))?$")
_CAMERA = re.compile(r"^(\d+|/dev/video\d+)$")


def _synthetic(spec: str) -> Source | None:
    if not spec.startswith("synthetic"):
        return None
    m = _SYNTHETIC.match(spec)
    if m is None:
        raise SourceError(f"{spec!r}: expected synthetic, synthetic:WIDTHxHEIGHT or synthetic:WIDTHxHEIGHT@FPS")
    w, h, fps = m.groups()
    return SyntheticSource(int(w or 640), int(h or 480), fps=float(fps) if fps else None)


def _picamera(spec: str) -> Source | None:
    m = _PICAMERA.match(spec)
    return Picamera2Source(int(m.group(1) or 0)) if m else None


def _stream(spec: str) -> Source | None:
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if not scheme:
        return None
    if scheme not in STREAM_SCHEMES:
        raise SourceError(f"{spec!r}: unsupported URL scheme {scheme!r} (supported: {', '.join(STREAM_SCHEMES)})")
    return StreamSource(spec)


def _camera(spec: str) -> Source | None:
    if not _CAMERA.match(spec):
        return None
    return CameraSource(int(spec) if spec.isdigit() else spec)


def _path(spec: str) -> Source | None:
    p = Path(spec)
    if p.is_dir():
        return FolderSource(p)
    if p.is_file():
        return ImageFileSource(p) if is_image_name(p) else VideoFileSource(p)
    if glob.has_magic(spec):
        return GlobSource(spec)
    return None


@dataclass(frozen=True, kw_only=True)
class SourceKind:
    """One entry of the parser table: a kind, an example spec, and a parser returning a Source or None."""

    kind: str
    example: str
    parse: Callable[[str], Source | None]


# Tried in registration order; the first parser that returns a Source wins.
SOURCES: Registry[str, SourceKind] = Registry("source kind")
for _kind in (
    SourceKind(kind="synthetic", example="synthetic:640x480@30", parse=_synthetic),
    SourceKind(kind="picamera2", example="picamera2:0", parse=_picamera),
    SourceKind(kind="stream", example="rtsp://host/stream", parse=_stream),
    SourceKind(kind="camera", example="0 or /dev/video0", parse=_camera),
    SourceKind(kind="file", example="photo.jpg, clip.mp4, photos/, 'photos/*.png'", parse=_path),
):
    SOURCES.register(_kind.kind, _kind)


def open_source(spec: str) -> Source:
    """Parse a source spec and return the Source (not yet opened; ``open()`` or ``with`` opens it).

    Accepts an image file, a folder (recursive), a glob pattern, a video file, a camera index (``0``) or device
    (``/dev/video0``), a stream URL (``rtsp://``, ``http://``, ...), ``picamera2`` / ``picamera2:N``, and
    ``synthetic[:WxH[@FPS]]``.
    """
    spec = str(spec).strip()
    if not spec:
        raise SourceError("empty source")
    for kind in SOURCES.values():
        source = kind.parse(spec)
        if source is not None:
            return source
    forms = "; ".join(f"{k.kind}: {k.example}" for k in SOURCES.values())
    raise SourceError(f"{spec}: no such file or folder, and not a camera, URL or synthetic source ({forms})")


__all__ = [
    "SOURCES",
    "CameraSource",
    "FilesSource",
    "FolderSource",
    "Frame",
    "GlobSource",
    "ImageFileSource",
    "Picamera2Source",
    "SkippedInput",
    "Source",
    "SourceKind",
    "StreamSource",
    "SyntheticSource",
    "VideoFileSource",
    "open_source",
]
