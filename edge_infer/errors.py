"""The one exception tree of edge-infer.

::

    EdgeInferError
    ├── SpecError                 a spec, option or argument is invalid
    │   └── UnknownNameError      an unknown model / format / target / backend name (lists valid names)
    ├── BackendUnavailableError   an optional library is missing (names the pip extra to install)
    ├── ArtifactError             missing or unreadable manifest, sha256 mismatch, missing model file
    ├── ExportError               an exporter failed
    ├── VerificationError         an exported artifact disagrees with eager / float
    ├── InputError                an input (image, features) cannot be used
    ├── SourceError               a frame source cannot be opened or read
    ├── TargetError               a target profile is unknown or contradictory
    └── BenchError                a benchmark cannot be run as asked

Every message names what was wrong; the CLI prints it as one line without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


class BackendUnavailableError(EdgeInferError, ImportError):
    """An optional dependency needed for this operation is not installed."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs the Python package {module!r}, which is not installed; "
            f"install it with: pip install 'edge-infer[{extra}]'"
        )


class ArtifactError(EdgeInferError):
    """An artifact or its manifest is missing, unreadable or does not match."""


class ExportError(EdgeInferError):
    """An exporter failed to produce an artifact."""


class VerificationError(EdgeInferError):
    """An artifact was produced but disagrees with its reference."""


class InputError(EdgeInferError, ValueError):
    """An input (image, frame, features) cannot be used."""


class SourceError(EdgeInferError):
    """A frame source cannot be opened or read."""


class TargetError(EdgeInferError, ValueError):
    """A target profile is unknown or contradictory."""


class BenchError(EdgeInferError, ValueError):
    """A benchmark cannot be run as asked."""
