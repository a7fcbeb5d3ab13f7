"""``with obj:`` for objects that have ``close()``: one context-manager protocol for predictors, sources and files."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_T = TypeVar("_T", bound="ClosesOnExit")


class ClosesOnExit:
    """Mixin: ``__enter__`` returns the object, ``__exit__`` calls ``close()`` (override ``__enter__`` to open)."""

    def close(self) -> None:
        """Release what the object holds. Safe to call twice."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
