"""Where ``backend="auto"`` keeps its choices: one JSON file per machine, artifacts and threads, written atomically.

The key (``cache_key``) is a hash of what makes a measurement hold on this machine (``machine_key``: CPU model, the
instruction sets that change kernels, usable cores, the versions of edge-infer and every installed engine), the
artifacts' sha256s and the thread count. Files live under ``cache_folder("choices")``; where that folder cannot be
written, choices are kept in memory for this process. What a choice holds is ``edge_infer.choice``'s business: this
module stores and returns plain JSON objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge_infer.backends import BACKENDS
from edge_infer.cache import cache_folder

# Instruction sets that change which kernels an engine runs (and so which configuration is fastest).
KEY_ISA = ("avx2", "fma", "avx512", "vnni", "amx", "bf16", "fp16", "neon", "dotprod", "i8mm", "sve")

_MEMO: dict[str, dict[str, Any]] = {}  # choices of this process when the cache folder cannot be written


def machine_key() -> tuple[str, dict[str, Any]]:
    """A short hash of what makes a measurement hold on this machine, and the facts hashed: CPU model, the
    instruction sets that change kernels, usable cores, and the versions of edge-infer and every installed engine."""
    from edge_infer import __version__
    from edge_infer.machine import machine_info

    info = machine_info()
    engines = {name: b.distribution()[1] for name, b in BACKENDS.items() if name != "fake" and b.installed}
    facts = {"cpu_model": info.cpu_model, "arch": info.arch, "isa": [k for k in KEY_ISA if info.isa.get(k)],
             "cores_usable": info.cores_usable, "edge_infer": __version__, "engines": engines}  # fmt: skip
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    return digest, facts


def cache_key(sha256s: Iterable[str], threads: int, backend: str | None = None) -> tuple[str, dict[str, Any]]:
    """The cache file's name: machine, the artifacts' sha256s, threads (and a backend restriction)."""
    mkey, facts = machine_key()
    shas = hashlib.sha256("\n".join(sorted(set(sha256s))).encode()).hexdigest()[:16]
    return f"{mkey}-{shas}-{threads}t" + (f"-{backend}" if backend else ""), facts


def cache_file(key: str) -> Path:
    return cache_folder("choices") / f"{key}.json"


def read(key: str) -> dict[str, Any] | None:
    """The stored JSON object for ``key`` (from the file, else this process's memo), or None: missing, unreadable
    or not JSON (the caller measures again and rewrites it)."""
    try:
        data = json.loads(cache_file(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _MEMO.get(key)
    return data if isinstance(data, dict) else _MEMO.get(key)


def write(key: str, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (temp file in the same folder, then ``os.replace``); memo it if we cannot."""
    folder = cache_file(key).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".choice-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(data, indent=2) + "\n")
            os.replace(tmp, cache_file(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        _MEMO[key] = data


__all__ = ["KEY_ISA", "cache_file", "cache_key", "machine_key", "read", "write"]
