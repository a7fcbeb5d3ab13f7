"""Sources over image files: the shared reader that skips unreadable files and records why."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_infer.errors import InputError, SourceError
from edge_infer.images import DEFAULT_MAX_PIXELS, ColorOrder, read_path
from edge_infer.sources.base import SkippedInput, Source


class FilesSource(Source):
    """Frames from an ordered list of image files. Unreadable files are skipped and listed in ``skipped``."""

    color_order: ColorOrder = "rgb"

    def __init__(self, name: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(name)
        self.max_pixels = max_pixels
        self.paths: list[Path] = []
        self._pos = 0

    def _list(self) -> list[Path]:
        raise NotImplementedError

    def _open(self) -> None:
        self.paths = self._list()
        self._pos = 0

    def _read(self) -> tuple[np.ndarray, str] | None:
        while self._pos < len(self.paths):
            path = self.paths[self._pos]
            self._pos += 1
            try:
                return read_path(path, max_pixels=self.max_pixels), str(path)
            except InputError as exc:
                self.skipped.append(SkippedInput(str(path), str(exc)))
        return None

    def __len__(self) -> int:
        return len(self.paths)


class ImageFileSource(FilesSource):
    """One image file, one frame."""

    kind = "image"

    def __init__(self, path: str | Path, **kwargs: object) -> None:
        super().__init__(str(path), **kwargs)  # type: ignore[arg-type]
        self.path = Path(path)

    def _list(self) -> list[Path]:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: image file not found")
        return [self.path]

    def _read(self) -> tuple[np.ndarray, str] | None:
        if self._pos == 0:  # a single file that cannot be read is an error, not a skip
            self._pos = 1
            try:
                return read_path(self.path, max_pixels=self.max_pixels), str(self.path)
            except InputError as exc:
                raise SourceError(str(exc)) from exc
        return None
