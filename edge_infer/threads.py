"""Thread counts: the default (the cores this process may use) and the one check every option shares."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from edge_infer.errors import SpecError


def default_threads() -> int:
    """Cores this process may run on (respects taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int | None, *, what: str = "threads") -> int | None:
    """``threads`` unchanged if it is None or a whole number of at least 1; otherwise a SpecError naming ``what``
    (the option as the user spelled it, e.g. ``--threads``)."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SpecError(f"{what} must be at least 1 (a whole number), got {threads!r}")
    return threads


def resolve_threads(threads: int | None, *, what: str = "threads") -> int:
    """``threads`` checked, or the default when None."""
    checked = check_threads(threads, what=what)
    return default_threads() if checked is None else checked


def set_opencv_threads(n: int) -> int:
    """Set OpenCV's own worker threads to ``n`` (a process-wide setting); the previous count.

    Where edge-infer already runs work side by side (the live loop's stages, the HTTP shim's requests, the processes
    of ``predict --workers``), OpenCV's parallel resize and blur would add their own workers on top, and those fight
    the model's threads for the cores. Measured on 2 cores on 2026-12-07, with 1:
    - the live loop ran 6-9% more frames a second (docs/live.md);
    - FastAPI at 8 clients answered 5-9% more requests (docs/serve.md);
    - two workers did 4.6% more images (docs/sources.md).
    PyTorch gives the same advice for OpenCV in DataLoader workers."""
    import cv2

    before = int(cv2.getNumThreads())
    cv2.setNumThreads(n)
    return before


@contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """``set_opencv_threads(n)`` for the block, then the previous count again."""
    before = set_opencv_threads(n)
    try:
        yield
    finally:
        set_opencv_threads(before)
