"""``Registry``: the one table type behind every plural concept (formats, backends, tasks, sources, targets, ...).

    FORMATS: Registry[str, FormatInfo] = Registry("format")
    FORMATS.register("onnx", FormatInfo(...))      # a second "onnx" raises DuplicateNameError
    FORMATS["onxx"]                                # UnknownNameError: unknown format 'onxx'; did you mean 'onnx'?

Insertion order is kept (it is the order users see in listings and ``--help``). Stdlib only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from edge_infer.errors import DuplicateNameError, UnknownNameError

K = TypeVar("K", bound=str)
V = TypeVar("V")
F = TypeVar("F")


class Registry(Mapping[K, V], Generic[K, V]):
    """A read-mostly mapping of names to entries that refuses duplicates and answers a miss with the closest names.

    ``kind`` is the word used in errors ("format", "backend", ...). ``loader`` (optional) is called once, before the
    first lookup, to import modules that register more entries (so registering stays lazy and cheap at start-up).
    """

    def __init__(self, kind: str, *, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[K, V] = {}
        self._loader = loader
        self._loading = False

    def _load(self) -> None:
        if self._loader is not None and not self._loading:
            loader, self._loader = self._loader, None
            self._loading = True
            done = False
            try:
                loader()
                done = True
            finally:
                self._loading = False
                if not done:
                    self._loader = loader  # try again next time; the caller sees why it failed

    def register(self, name: K, entry: V) -> V:
        """Add ``entry`` under ``name``; a name that is already taken raises ``DuplicateNameError``."""
        if name in self._entries:
            raise DuplicateNameError(self.kind, name)
        self._entries[name] = entry
        return entry

    def decorator(self, name: K) -> Callable[[F], F]:
        """``@registry.decorator("name")`` registers the decorated object itself."""

        def deco(obj: F) -> F:
            self.register(name, obj)  # type: ignore[arg-type]
            return obj

        return deco

    def __getitem__(self, name: K) -> V:  # UnknownNameError is a KeyError: ``get(name, default)`` works as usual
        self._load()
        try:
            return self._entries[name]
        except KeyError as exc:
            raise UnknownNameError(self.kind, str(name), self._entries) from exc

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[K]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def names(self) -> list[K]:
        """Every registered name, in registration order."""
        return list(self)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
