"""A folder of images (recursive, sorted, image types only) and a glob pattern of images."""

from __future__ import annotations

from pathlib import Path

from edge_infer.errors import SourceError
from edge_infer.sources.files import FilesSource
from edge_infer.sources.paths import folder_images, glob_files, no_images_message


class FolderSource(FilesSource):
    """Every image under a folder, recursively, in sorted path order; hidden files and non-images are ignored."""

    kind = "folder"

    def __init__(self, folder: str | Path, **kwargs: object) -> None:
        super().__init__(str(folder), **kwargs)  # type: ignore[arg-type]
        self.folder = Path(folder)

    def _list(self) -> list[Path]:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: folder not found")
        found = folder_images(self.folder)
        if not found:
            raise SourceError(no_images_message(str(self.folder)))
        return found


class GlobSource(FilesSource):
    """Image files matching a glob pattern (``**`` recurses), sorted."""

    kind = "glob"

    def __init__(self, pattern: str, **kwargs: object) -> None:
        super().__init__(pattern, **kwargs)  # type: ignore[arg-type]
        self.pattern = pattern

    def _list(self) -> list[Path]:
        found = glob_files(self.pattern)
        if not found:
            raise SourceError(no_images_message(self.pattern, pattern=True))
        return found
