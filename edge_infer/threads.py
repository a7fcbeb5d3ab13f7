"""Thread counts: the default (the cores this process may use) and the one check every option shares."""

from __future__ import annotations

import os

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
