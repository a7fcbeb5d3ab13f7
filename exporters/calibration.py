"""Calibration images for int8 quantization: a user folder, or built-in photos with augmentation.

Calibration photos and verification photos are kept apart: quantized artifacts are verified on photos (and crops of
photos) that calibration never saw.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_infer.errors import InputError, SpecError
from edge_infer.images import read_path
from edge_infer.sources.paths import folder_images
from exporters import samples

MIN_CALIBRATION_IMAGES = 32  # below this, activation ranges are guesses; we warn

# Built-in calibration pool: disjoint from the held-out photos used to verify quantized artifacts.
CALIBRATION_PHOTOS: dict[str, Callable[[], Path]] = {
    "china.jpg": samples.DEMO_PHOTOS["china.jpg"],
    "astronaut.png": samples.DEMO_PHOTOS["astronaut.png"],
    "motorcycle_right.png": samples.EXTRA_PHOTOS["motorcycle_right.png"],
    "retina.jpg": samples.EXTRA_PHOTOS["retina.jpg"],
    "brick.png": samples.EXTRA_PHOTOS["brick.png"],
    "grass.png": samples.EXTRA_PHOTOS["grass.png"],
    "ihc.png": samples.EXTRA_PHOTOS["ihc.png"],
}


def augment(rgb: np.ndarray, n: int, *, seed: int) -> list[np.ndarray]:
    """``n`` deterministic variants: random crops (40-100% of the shorter side), flips, brightness/contrast jitter."""
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    out = [rgb]
    while len(out) < n:
        side = int(min(h, w) * rng.uniform(0.4, 1.0))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        c = rgb[top : top + side, left : left + side].astype(np.float32)
        if rng.random() < 0.5:
            c = c[:, ::-1]
        c = c * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        out.append(np.ascontiguousarray(np.clip(c, 0, 255).astype(np.uint8)))
    return out


def calibration_images(
    folder: Path | None = None, *, count: int = 128, seed: int = 0, warn: Callable[[str], None] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Images for calibration, and a report (source, count, skipped files) for the manifest.

    From ``folder``: every readable image in it (unreadable ones are skipped and reported). Built in: ``count``
    augmented variants of the calibration pool photos.
    """
    say = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise SpecError(f"{folder}: calibration folder not found")
        paths = folder_images(folder)
        if not paths:
            raise InputError(f"{folder}: calibration folder has no image files")
        images: dict[str, np.ndarray] = {}
        skipped: list[str] = []
        for p in paths[: max(count, 1) * 4]:
            try:
                images[p.name] = read_path(p)
            except InputError as exc:
                skipped.append(str(exc))
        if not images:
            raise InputError(f"{folder}: no readable image among {len(paths)} file(s) ({skipped[0]})")
        if len(images) < MIN_CALIBRATION_IMAGES:
            say(f"only {len(images)} calibration image(s) in {folder}; {MIN_CALIBRATION_IMAGES}+ recommended")
        report = {"source": str(folder), "images": len(images), "skipped": skipped, "augmented": False}
        return images, report
    photos = {name: read_path(locate()) for name, locate in CALIBRATION_PHOTOS.items()}
    per = max(1, -(-count // len(photos)))
    images = {}
    for k, (name, rgb) in enumerate(photos.items()):
        for j, im in enumerate(augment(rgb, per, seed=seed + k)):
            images[f"{name}#aug{j}"] = im
    report = {
        "source": "built-in photos with augmentation",
        "photos": list(photos),
        "images": len(images),
        "augmented": True,
    }
    return images, report


def calibration_sources(images: dict[str, np.ndarray]) -> set[str]:
    """Photo names (before any '#variant' suffix) used for calibration, to exclude from verification."""
    return {name.split("#", 1)[0] for name in images}
