"""Real photos that ship with scikit-learn and scikit-image: the demo set, verification and calibration sources."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_infer.errors import BackendUnavailableError
from edge_infer.images import read_path


def _sklearn_file(name: str) -> Path:
    try:
        import sklearn.datasets
    except ImportError as exc:
        raise BackendUnavailableError("the built-in sample photos", "scikit-learn", "export") from exc
    return Path(sklearn.datasets.__file__).parent / "images" / name


def _skimage_file(name: str) -> Path:
    try:
        import skimage.data
    except ImportError as exc:
        raise BackendUnavailableError("the built-in sample photos", "scikit-image", "export") from exc
    return Path(skimage.data.data_dir) / name


# name -> where the original file lives. The demo photos have known ImageNet answers (see tests).
DEMO_PHOTOS: dict[str, Callable[[], Path]] = {
    "flower.jpg": lambda: _sklearn_file("flower.jpg"),  # daisy
    "china.jpg": lambda: _sklearn_file("china.jpg"),  # palace
    "coffee.png": lambda: _skimage_file("coffee.png"),  # espresso
    "chelsea.png": lambda: _skimage_file("chelsea.png"),  # a cat
    "astronaut.png": lambda: _skimage_file("astronaut.png"),
    "rocket.jpg": lambda: _skimage_file("rocket.jpg"),  # missile / projectile
    "motorcycle_left.png": lambda: _skimage_file("motorcycle_left.png"),  # moped / motor scooter
}
# More real photos, never used for calibration: verification and agreement checks only.
EXTRA_PHOTOS: dict[str, Callable[[], Path]] = {
    "motorcycle_right.png": lambda: _skimage_file("motorcycle_right.png"),
    "hubble_deep_field.jpg": lambda: _skimage_file("hubble_deep_field.jpg"),
    "retina.jpg": lambda: _skimage_file("retina.jpg"),
    "camera.png": lambda: _skimage_file("camera.png"),
    "ihc.png": lambda: _skimage_file("ihc.png"),
    "brick.png": lambda: _skimage_file("brick.png"),
    "grass.png": lambda: _skimage_file("grass.png"),
    "gravel.png": lambda: _skimage_file("gravel.png"),
    "coins.png": lambda: _skimage_file("coins.png"),
}
# Real photos used only to verify int8 artifacts (never calibration, never the bundle's samples): grey-scale
# photos and micrographs from scikit-image. Their crops grow the held-out set to 60+ images that the fp32 model is
# at least 0.3 sure of (docs/int8.md, "The int8 rule").
HELD_OUT_PHOTOS: dict[str, Callable[[], Path]] = {
    "moon.png": lambda: _skimage_file("moon.png"),
    "microaneurysms.png": lambda: _skimage_file("microaneurysms.png"),
    "clock_motion.png": lambda: _skimage_file("clock_motion.png"),
    "cell.png": lambda: _skimage_file("cell.png"),
    "page.png": lambda: _skimage_file("page.png"),
    "text.png": lambda: _skimage_file("text.png"),
}
HELD_OUT_CROPS = 12  # crops (and mirror images) of each photo calibration never sees


def photo_paths(names: dict[str, Callable[[], Path]] | None = None) -> dict[str, Path]:
    table = names if names is not None else {**DEMO_PHOTOS, **EXTRA_PHOTOS}
    return {name: locate() for name, locate in table.items()}


def load_photos(names: dict[str, Callable[[], Path]] | None = None) -> dict[str, np.ndarray]:
    """name -> HxWx3 uint8 RGB."""
    return {name: read_path(path) for name, path in photo_paths(names).items()}


def write_samples(out: str | Path, *, extra: bool = False) -> list[Path]:
    """Copy the demo photos (and, with ``extra``, the extra ones) into ``out``, byte for byte."""
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, path in photo_paths({**DEMO_PHOTOS, **(EXTRA_PHOTOS if extra else {})}).items():
        target = dest / name
        shutil.copyfile(path, target)
        written.append(target)
    return written


def crops(
    rgb: np.ndarray, n: int = 4, *, seed: int = 0, scale: tuple[float, float] = (0.6, 0.9)
) -> list[np.ndarray]:
    """Deterministic random square crops (``scale`` of the shorter side) and mirror images of one photo."""
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    out = []
    for i in range(n):
        side = int(min(h, w) * rng.uniform(*scale))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        c = rgb[top : top + side, left : left + side]
        out.append(np.ascontiguousarray(c[:, ::-1] if i % 2 else c))
    return out


def verification_images(*, crops_per_photo: int = 2, held_out_crops: int = HELD_OUT_CROPS) -> dict[str, np.ndarray]:
    """The default verification set: every sample photo with ``crops_per_photo`` crops, and each photo that the
    built-in calibration never sees (with ``HELD_OUT_PHOTOS``) with ``held_out_crops`` crops at 35-95% of its
    shorter side, half of them mirrored. int8 artifacts are judged on the held-out part only."""
    from exporters.calibration import CALIBRATION_PHOTOS

    photos = load_photos({**DEMO_PHOTOS, **EXTRA_PHOTOS, **HELD_OUT_PHOTOS})
    images: dict[str, np.ndarray] = {}
    for k, (name, rgb) in enumerate(photos.items()):
        images[name] = rgb
        if name in CALIBRATION_PHOTOS:
            variants = crops(rgb, crops_per_photo, seed=1000 + k)
        else:
            variants = crops(rgb, held_out_crops, seed=1000 + k, scale=(0.35, 0.95))
        for j, c in enumerate(variants):
            images[f"{name}#crop{j}"] = c
    return images


def pan(rgb: np.ndarray, size: tuple[int, int], steps: int) -> list[np.ndarray]:
    """``steps`` views of a photo as a camera panning across it: a window of the output's aspect ratio, 80% of the
    largest that fits, sliding from one corner to the opposite one, each view resized to ``size`` (width, height)."""
    import cv2

    h, w = rgb.shape[:2]
    aspect = size[0] / size[1]
    cw = int(min(w, h * aspect) * 0.8)
    ch = int(cw / aspect)
    views = []
    for i in range(steps):
        f = i / max(1, steps - 1)
        left, top = round(f * (w - cw)), round(f * (h - ch))
        view = rgb[top : top + ch, left : left + cw]
        views.append(cv2.resize(view, size, interpolation=cv2.INTER_LINEAR))
    return views


def write_sample_video(
    out: str | Path, *, size: tuple[int, int] = (640, 480), fps: float = 30.0, frames_per_photo: int = 30,
    names: tuple[str, ...] = ("flower.jpg", "coffee.png", "chelsea.png", "china.jpg"),
) -> Path:  # fmt: skip
    """An MP4 (MPEG-4 Part 2, written by OpenCV's FFmpeg) of the demo photos, each panned across for
    ``frames_per_photo`` frames at ``size``: real pictures in moving crops, so every frame differs, as from a camera.
    The default is 640x480 at 30 FPS, 4 s (120 frames)."""
    import cv2

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write an MP4 video here")
    try:
        for rgb in load_photos({name: DEMO_PHOTOS[name] for name in names}).values():
            for view in pan(rgb, size, frames_per_photo):
                writer.write(cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
