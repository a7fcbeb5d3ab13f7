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


@contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's own worker threads set to ``n`` for the block (a process-wide setting), then put back.

    The live loop already runs its stages side by side (capture, preprocessing, the model's threads). OpenCV's
    parallel resize and blur would add their own workers on top, and on 2 cores those fight the model's threads:
    with 1, the default loop ran 8.7% more frames a second (paired median of 12 turns, 2026-12-07, docs/live.md).
    PyTorch gives the same advice for OpenCV in DataLoader workers."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
