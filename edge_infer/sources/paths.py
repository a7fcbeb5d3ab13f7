"""Image paths from what a user types: files, folders (recursive) and glob patterns. The one expander behind both
``edge-infer predict INPUT...`` and the folder and glob frame sources."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from edge_infer.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class InputItem:
    """One input to predict, or the reason it cannot be (``error``)."""

    path: str
    error: str | None = None


def is_image_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def no_images_message(where: str, *, pattern: bool = False) -> str:
    if pattern:
        return f"{where}: pattern matches no image files"
    return f"{where}: folder has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"


def folder_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursive, sorted, hidden files skipped."""
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file() and is_image_name(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def glob_files(pattern: str, *, images_only: bool = True) -> list[Path]:
    """Files matching a glob pattern (``**`` recurses), sorted; image files only unless ``images_only=False``."""
    matches = sorted(glob.glob(pattern, recursive=True))
    return [Path(m) for m in matches if Path(m).is_file() and (is_image_name(m) or not images_only)]


def expand_inputs(items: list[str]) -> list[InputItem]:
    """Files stay as given, folders expand to their images, glob patterns expand sorted; duplicates are dropped.
    What cannot be expanded becomes an item with its ``error`` (the run reports it and goes on)."""
    out: list[InputItem] = []
    seen: set[str] = set()

    def add(item: InputItem) -> None:
        if item.path not in seen:
            seen.add(item.path)
            out.append(item)

    for raw in items:
        p = Path(raw)
        if p.is_dir():
            images = folder_images(p)
            if not images:
                add(InputItem(raw, no_images_message(raw)))
            for f in images:
                add(InputItem(str(f)))
        elif p.exists():
            add(InputItem(raw))
        elif glob.has_magic(raw):
            files = glob_files(raw, images_only=False)
            if not files:
                add(InputItem(raw, f"{raw}: pattern matches no files"))
            for m in files:
                add(InputItem(str(m)))
        else:
            add(InputItem(raw, f"{raw}: file not found"))
    return out
