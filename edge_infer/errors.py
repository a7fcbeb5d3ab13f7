"""The one exception tree of edge-infer.

::

    EdgeInferError
    ├── SpecError                 a spec, option or argument is invalid
    │   ├── UnknownNameError      an unknown model / format / target / backend / option name (lists valid names)
    │   ├── DuplicateNameError    a name registered twice in one of the tables (``edge_infer.registry``)
    │   └── BenchError            a benchmark cannot be run as asked
    ├── BackendUnavailableError   an optional library is missing (names the pip extra to install)
    ├── ArtifactError             missing or unreadable manifest, sha256 mismatch, missing model file
    ├── ExportError               an exporter failed
    ├── VerificationError         an exported artifact disagrees with eager / float
    ├── InputError                an input (image, features) cannot be used
    ├── SourceError               a frame source cannot be opened or read
    ├── ClusterError              a Ray cluster cannot be reached or started, or a Ray job failed (--engine ray)
    ├── RemoteError               the HTTP shim cannot be reached, drops the connection, times out or answers 5xx
    └── TargetError               a target profile is contradictory (also a ``targets.ProfileError``)

Every message names what was wrong; the CLI prints it as one line without a traceback. Errors raised while
handling another keep it as their ``__cause__`` (``raise ... from exc``).

``targets`` (stdlib only, imports nothing of ``edge_infer``) raises ``targets.ProfileError`` for a contradictory
profile built by hand; ``TargetError`` is its subclass in this tree, raised wherever edge-infer checks a target.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from targets.profiles import ProfileError


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """First line of ``exc``'s message (``Type: line`` with ``with_type``); the type name when the message is empty."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    return f"{type(exc).__name__}: {line}" if with_type else line


class EdgeInferError(Exception):
    """Base class of every error edge-infer raises on purpose."""


class SpecError(EdgeInferError, ValueError):
    """A spec, option or argument is invalid."""


class UnknownNameError(SpecError, KeyError):
    """A name (model, format, target, backend, ...) is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        close = difflib.get_close_matches(name, self.valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (valid: {', '.join(self.valid)})")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(SpecError):
    """A name is registered twice in one table (format, backend, task, ...)."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} is already registered")


def install_command(extra: str | None, package: str) -> str:
    """The pip command that installs ``package``: the edge-infer extra that provides it (None: a core dependency)."""
    return f"pip install 'edge-infer[{extra}]'" if extra else f"pip install {package}"


class BackendUnavailableError(EdgeInferError, ImportError):
    """An optional dependency needed for this operation is not installed. ``extra`` is the edge-infer extra that
    installs it (None when it is a core dependency of edge-infer, then the package itself is named)."""

    def __init__(self, what: str, module: str, extra: str | None) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"{what} needs the Python package {module!r}, which is not installed; "
            f"install it with: {install_command(extra, module)}"
        )


class RemoteError(EdgeInferError):
    """The HTTP shim could not be reached (refused, dropped, timed out), or answered with a server error (5xx)."""


class ArtifactError(EdgeInferError):
    """An artifact or its manifest is missing, unreadable or does not match."""


class ExportError(EdgeInferError):
    """An exporter failed to produce an artifact."""


class VerificationError(EdgeInferError):
    """An artifact was produced but disagrees with its reference. ``failures`` names every failing check (one line
    each); ``outcomes`` carries what was exported, when an export raised it (``export(..., strict=True)``)."""

    def __init__(self, message: str, *, failures: Iterable[str] = (), outcomes: Iterable[Any] = ()) -> None:
        self.failures = tuple(failures)
        self.outcomes = tuple(outcomes)
        super().__init__(message)


class InputError(EdgeInferError, ValueError):
    """An input (image, frame, features) cannot be used."""


class SourceError(EdgeInferError):
    """A frame source cannot be opened or read."""


class ClusterError(EdgeInferError):
    """A Ray cluster cannot be reached or started, or a Ray job failed (``edge-infer predict --engine ray``)."""


class TargetError(EdgeInferError, ProfileError):
    """A target profile is contradictory, or an artifact does not fit the device it is run on."""


class BenchError(SpecError):
    """A benchmark cannot be run as asked."""
