"""A folder of images (recursive, sorted, image types only) and a glob pattern of images."""

from __future__ import annotations

import glob
from pathlib import Path

from edge_infer.errors import SourceError
from edge_infer.images import IMAGE_SUFFIXES
from edge_infer.inputs import folder_images, is_image_name
from edge_infer.sources.files import FilesSource


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
            raise SourceError(f"{self.folder}: folder has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return found


class GlobSource(FilesSource):
    """Image files matching a glob pattern (``**`` recurses), sorted."""

    kind = "glob"

    def __init__(self, pattern: str, **kwargs: object) -> None:
        super().__init__(pattern, **kwargs)  # type: ignore[arg-type]
        self.pattern = pattern

    def _list(self) -> list[Path]:
        matches = sorted(glob.glob(self.pattern, recursive=True))
        found = [Path(m) for m in matches if Path(m).is_file() and is_image_name(m)]
        if not found:
            raise SourceError(f"{self.pattern}: pattern matches no image files")
        return found
