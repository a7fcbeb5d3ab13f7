"""The table of batch engines behind ``edge-infer predict --engine NAME``: what runs a batch of inputs.

``local`` is this machine (one process, or ``--workers N`` spawned processes: ``edge_infer.batch``); ``ray`` is a
Ray cluster, local or remote (``edge_infer.scale``, the ``ray`` extra). A row names the Python import that makes it
available and the extra that installs it, so the install hint and ``--help`` come from the row. Stdlib only.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from edge_infer.errors import BackendUnavailableError
from edge_infer.registry import Registry


@dataclass(frozen=True, kw_only=True)
class EngineInfo:
    """One batch engine: its import (None: always there), the extra that installs it, a one-line description."""

    name: str
    module: str | None
    extra: str | None
    description: str

    @property
    def installed(self) -> bool:
        """Its Python module can be imported here (checked without importing it)."""
        if self.module is None:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def require(self) -> None:
        """Raise BackendUnavailableError (naming the extra) unless the engine is installed."""
        if not self.installed and self.module is not None:
            raise BackendUnavailableError(f"--engine {self.name}", self.module, self.extra)


ENGINES: Registry[str, EngineInfo] = Registry("engine")
for _e in (
    EngineInfo(name="local", module=None, extra=None,
               description="this machine: one process, or --workers N processes"),
    EngineInfo(name="ray", module="ray", extra="ray",
               description="a Ray cluster (Ray Data), local or joined with --ray-address"),
):  # fmt: skip
    ENGINES.register(_e.name, _e)


def get_engine(name: str) -> EngineInfo:
    """The engine called ``name``; an unknown name lists the valid ones."""
    return ENGINES[name]
