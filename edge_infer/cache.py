"""Where edge-infer keeps what it can recompute: compiled models, the choices of ``backend="auto"``. Stdlib only.

Everything lives under one root: ``$EDGE_INFER_CACHE_DIR`` when set, else the user cache folder
(``$XDG_CACHE_HOME/edge-infer``, default ``~/.cache/edge-infer``; ``%LOCALAPPDATA%\\edge-infer`` on Windows,
``~/Library/Caches/edge-infer`` on macOS). Each user of the cache takes one named folder in it
(``cache_folder("openvino")``, ``cache_folder("choices")``); deleting the root is always safe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "EDGE_INFER_CACHE_DIR"
APP = "edge-infer"


def _user_cache_home() -> Path:
    """The platform's per-user cache folder (XDG on Linux and other Unixes)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def cache_root() -> Path:
    """The cache root: ``$EDGE_INFER_CACHE_DIR``, else ``edge-infer`` in the user cache folder (not created here)."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else _user_cache_home() / APP


def cache_folder(name: str) -> Path:
    """``cache_root() / name`` (not created here: callers create it and cope with a read-only home)."""
    return cache_root() / name


__all__ = ["CACHE_ENV", "cache_folder", "cache_root"]
