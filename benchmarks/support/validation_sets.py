"""Image sets for choosing an int8 recipe without looking at the verification set (``benchmarks/int8_recipe_search.py``).

Both are disjoint from the int8 rule's 195 held-out verification images (``exporters.samples.verification_images``):

- ``other_photos``: pictures that ship with scikit-image and matplotlib and that neither calibration
  (``exporters.calibration.CALIBRATION_PHOTOS``) nor verification (``DEMO_PHOTOS``, ``EXTRA_PHOTOS``,
  ``HELD_OUT_PHOTOS``) uses, each with square crops and mirror images;
- ``calibration_views``: small crops of the calibration photos (15-40% of the shorter side, below the 40-100% of
  calibration's augmentation) drawn with seeds calibration and verification never use.

Every image is HxWx3 uint8 RGB, named ``photo`` or ``photo#cropN``.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

OTHER_CROPS = 16  # crops (half mirrored) of each other photo, at 30-90% of its shorter side
OTHER_SCALE = (0.3, 0.9)
VIEW_CROPS = 24  # crops of each calibration photo, at 15-40% of its shorter side
VIEW_SCALE = (0.15, 0.4)
VIEW_SEED = 5000  # calibration uses seeds 0-6 (augment), verification 1000+ (crops)
OTHER_SEED = 7000
FACES = 20  # of lfw_subset's 200 (25x25 grey faces): every tenth
GIF_FRAMES = (0, 12)


def _skimage(name: str) -> Path:
    import skimage.data

    return Path(skimage.data.data_dir) / name


def _matplotlib(name: str) -> Path:
    import matplotlib.cbook

    return Path(matplotlib.cbook._get_data_path("sample_data")) / name


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    g = grey.astype(np.float64)
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-12) * 255.0
    return np.ascontiguousarray(np.repeat(np.round(g).astype(np.uint8)[..., None], 3, axis=2))


def _mri() -> np.ndarray:
    """matplotlib's MRI slice (256x256, 16-bit big-endian raw), scaled to 8-bit grey."""
    raw = gzip.decompress(_matplotlib("s1045.ima.gz").read_bytes())
    return _grey_to_rgb(np.frombuffer(raw, ">u2").reshape(256, 256))


# photo name -> loader; none of these names is used by calibration or verification (checked in other_photos)
OTHER_FILES: dict[str, Callable[[], Path]] = {
    "horse.png": lambda: _skimage("horse.png"),
    "color.png": lambda: _skimage("color.png"),
    "logo.png": lambda: _skimage("logo.png"),
    "chessboard_RGB.png": lambda: _skimage("chessboard_RGB.png"),
    "phantom.png": lambda: _skimage("phantom.png"),
    "grace_hopper.jpg": lambda: _matplotlib("grace_hopper.jpg"),
    "Minduka_Present_Blue_Pack.png": lambda: _matplotlib("Minduka_Present_Blue_Pack.png"),
    "logo2.png": lambda: _matplotlib("logo2.png"),
}


def _gif_frames() -> dict[str, np.ndarray]:
    from PIL import Image

    out = {}
    with Image.open(_skimage("no_time_for_that_tiny.gif")) as im:
        for k in GIF_FRAMES:
            im.seek(k)
            out[f"no_time_for_that_tiny.gif#frame{k}"] = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    return out


def _faces() -> dict[str, np.ndarray]:
    faces = np.load(_skimage("lfw_subset.npy"))
    step = max(1, len(faces) // FACES)
    return {f"lfw_subset.npy#face{i}": _grey_to_rgb(faces[i]) for i in range(0, step * FACES, step)}


def _check_disjoint(names: list[str]) -> None:
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import DEMO_PHOTOS, EXTRA_PHOTOS, HELD_OUT_PHOTOS

    used = {*CALIBRATION_PHOTOS, *DEMO_PHOTOS, *EXTRA_PHOTOS, *HELD_OUT_PHOTOS}
    clash = sorted({n.split("#", 1)[0] for n in names} & used)
    if clash:
        raise RuntimeError(f"validation photos also used by calibration or verification: {', '.join(clash)}")


def other_photos(crops_per_photo: int = OTHER_CROPS) -> dict[str, np.ndarray]:
    """Pictures calibration and verification never use, each whole and with ``crops_per_photo`` crops; the tiny
    faces and GIF frames (25 pixels or less) whole only."""
    from edge_infer.images import read_path
    from exporters.samples import crops

    photos = {name: read_path(locate()) for name, locate in OTHER_FILES.items()}
    photos["s1045.ima.gz"] = _mri()
    images: dict[str, np.ndarray] = {}
    for k, (name, rgb) in enumerate(photos.items()):
        images[name] = rgb
        for j, c in enumerate(crops(rgb, crops_per_photo, seed=OTHER_SEED + k, scale=OTHER_SCALE)):
            images[f"{name}#crop{j}"] = c
    images.update(_gif_frames())
    images.update(_faces())
    _check_disjoint(list(images))
    return images


def calibration_views(crops_per_photo: int = VIEW_CROPS) -> dict[str, np.ndarray]:
    """Small crops (15-40% of the shorter side, half mirrored) of each calibration photo, with unused seeds."""
    from edge_infer.images import read_path
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import crops

    images: dict[str, np.ndarray] = {}
    for k, (name, locate) in enumerate(CALIBRATION_PHOTOS.items()):
        for j, c in enumerate(crops(read_path(locate()), crops_per_photo, seed=VIEW_SEED + k, scale=VIEW_SCALE)):
            images[f"{name}#view{j}"] = c
    return images
