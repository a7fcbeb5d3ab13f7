"""Frames and the Source interface every frame source implements.

A source is opened by ``open_source(spec)`` (see ``edge_infer.sources``), read one frame at a time with ``read()``
(``None`` at the end of a finite source), and closed. Iterating a source yields its frames until the end.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge_infer.closing import ClosesOnExit
from edge_infer.images import ColorOrder


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One captured image: ``index`` counts frames read from the source (0-based, gaps never happen at the source),
    ``timestamp`` is the capture time on the ``time.monotonic()`` clock, ``color_order`` says how to read ``image``
    (OpenCV delivers BGR), ``name`` identifies the frame in results (a file path, or ``SOURCE#INDEX``)."""

    image: np.ndarray
    index: int
    timestamp: float
    color_order: ColorOrder
    source: str
    name: str = ""
    read_ms: float = 0.0  # time spent reading/decoding this frame in the source

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.source}#{self.index}")


@dataclass
class SkippedInput:
    """An input a source could not read and skipped (a corrupt image in a folder)."""

    name: str
    error: str


class Source(ClosesOnExit, ABC):
    """A stream of frames. Use as a context manager or call ``open()`` / ``close()``.

    ``live`` sources (cameras, network streams) deliver frames on their own clock and cannot be paused, so a slow
    consumer must drop frames; ``fps`` is the nominal rate when known (video files, cameras). ``reconnectable``
    sources can be reopened after they fail mid-run (``reopen()``).
    """

    kind: str = ""
    live: bool = False
    reconnectable: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.fps: float | None = None
        self.skipped: list[SkippedInput] = []
        self._index = 0
        self._opened = False

    # -- hooks -----------------------------------------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None:
        """Acquire the device / file; raise SourceError with a clear message when that is impossible."""

    @abstractmethod
    def _read(self) -> tuple[np.ndarray, str] | None:
        """Next image and its name ("" for the default ``SOURCE#INDEX``); None at the end; SourceError on failure."""

    def _close(self) -> None:
        """Release the device / file."""

    color_order: ColorOrder = "bgr"

    # -- public API ------------------------------------------------------------------------------------------
    def open(self) -> Source:
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def read(self) -> Frame | None:
        """The next frame, or None when a finite source has ended. Raises SourceError when reading fails."""
        self.open()
        t0 = time.perf_counter()
        got = self._read()
        if got is None:
            return None
        image, name = got
        now = time.monotonic()
        frame = Frame(
            image=image, index=self._index, timestamp=now, color_order=self.color_order, source=self.name,
            name=name, read_ms=(time.perf_counter() - t0) * 1e3,
        )  # fmt: skip
        self._index += 1
        return frame

    def reopen(self) -> None:
        """Close and open again (after a camera or stream dropped out). Frame indices keep counting."""
        self.close()
        self.open()

    def close(self) -> None:
        """Release the source. Safe to call twice."""
        if self._opened:
            self._opened = False
            self._close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Source:
        return self.open()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
