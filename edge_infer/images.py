"""Decode images from paths, bytes, PIL images or numpy frames into HxWx3 uint8 RGB, with clear errors.

Colour order of numpy frames is explicit: ``color_order="rgb"`` (numpy, PIL, scikit-image) or
``color_order="bgr"`` (what ``cv2.imread`` and ``cv2.VideoCapture`` return).

Encoded files are checked from their header first (size limit: a decompression bomb is refused before decoding;
truncation), then decoded upright: the EXIF orientation tag (274) is applied, as a phone's portrait photo needs.
With ``min_side``, a JPEG much larger than that is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (OpenCV's
``IMREAD_REDUCED_COLOR_*``), the largest reduction whose shorter side is still at least ``min_side``.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge_infer.errors import InputError

ColorOrder = Literal["rgb", "bgr"]
DEFAULT_MAX_PIXELS = 64_000_000  # 64 MP: above every phone camera, far below a decompression bomb
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})

ImageInput = Any  # str | os.PathLike | bytes | PIL.Image.Image | np.ndarray

EXIF_ORIENTATION = 274
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def _orientation(im: Any) -> int:
    """The EXIF orientation (1-8) of an open Pillow image; 1 when absent or unreadable."""
    try:
        value = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001  a damaged EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` (1-8) upright (what ``PIL.ImageOps.exif_transpose`` does)."""
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(img), -1)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def jpeg_reduction(size: tuple[int, int], min_side: int | None) -> tuple[int, int]:
    """(factor, OpenCV read flag) of the largest JPEG DCT reduction (8, 4, 2) whose shorter side stays at least
    ``min_side`` pixels (the decoder rounds up); (1, IMREAD_COLOR) when none does or ``min_side`` is None."""
    if min_side is not None and min_side > 0:
        short = min(size)
        for factor, flag in _REDUCED:
            if -(-short // factor) >= min_side:
                return factor, flag
    return 1, cv2.IMREAD_COLOR


def _header(data: bytes, name: str, max_pixels: int) -> tuple[str, tuple[int, int], int]:
    """Read format, size and EXIF orientation from the header only, before decoding, so a bomb is refused cheaply."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, size = str(im.format or "unknown"), im.size
                orientation = _orientation(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"declares {int(found.group(1)):,} pixels" if found else "is too large"
        raise InputError(
            f"{name}: image {declared}, above the limit of {max_pixels:,} pixels (refused before decoding)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{name}: not an image (unrecognised file format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if "runcated" in str(exc):
            raise InputError(f"{name}: image file is truncated (ends inside its header)") from exc
        raise InputError(f"{name}: cannot read image header ({exc})") from exc
    w, h = size
    if w <= 0 or h <= 0:
        raise InputError(f"{name}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise InputError(f"{name}: image is {w}x{h} pixels, above the limit of {max_pixels:,} pixels")
    return fmt, size, orientation


def _looks_truncated(data: bytes, fmt: str) -> bool:
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-1024:].rstrip(b"\x00")
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    return False


def is_bgr_frame(image: object, max_pixels: int) -> bool:
    """A plain HxWx3 uint8 frame within the size limit, which needs no conversion but the channel swap (anything
    else goes through ``load_image``, which checks and converts it)."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.flags.c_contiguous and 0 < image.shape[0] * image.shape[1] <= max_pixels)  # fmt: skip


def to_rgb_uint8(img: np.ndarray, name: str, color_order: ColorOrder = "rgb") -> np.ndarray:
    """Normalise a decoded array (gray, gray+alpha, 3 or 4 channels; uint8/uint16/float) to HxWx3 uint8 RGB."""
    if not isinstance(img, np.ndarray):
        raise InputError(f"{name}: expected a numpy array, got {type(img).__name__}")
    if color_order not in ("rgb", "bgr"):
        raise InputError(f"{name}: color_order must be 'rgb' or 'bgr', got {color_order!r}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (2, 3, 4)):
        raise InputError(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f"{name}: image has no pixels (shape {img.shape})")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        if not np.isfinite(img).all():
            raise InputError(f"{name}: float image contains NaN or infinity")
        scale = 255.0 if img.max(initial=0.0) <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        raise InputError(f"{name}: unsupported pixel type {img.dtype} (use uint8, uint16 or float)")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 2:  # gray + alpha
        return cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if color_order == "bgr":
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def decode_bytes(
    data: bytes, name: str = "<bytes>", *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int | None = None
) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to upright HxWx3 uint8 RGB.

    ``min_side``: the shortest side the caller needs (a model's resize); a larger JPEG is decoded at a reduced scale
    that keeps its shorter side at least this (None: full size)."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    fmt, size, orientation = _header(data, name, max_pixels)
    if _looks_truncated(data, fmt):
        raise InputError(f"{name}: {fmt} data is truncated (file ends before the image does)")
    buf = np.frombuffer(data, dtype=np.uint8)
    if fmt == "JPEG":  # colour (gray and CMYK converted), at the reduced scale, orientation applied below
        flag = jpeg_reduction(size, min_side)[1]
        img = cv2.imdecode(buf, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    else:  # every channel and bit depth as stored (alpha, 16-bit), normalised by to_rgb_uint8
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        rgb = to_rgb_uint8(_decode_with_pillow(data, name), name, "rgb")
    else:
        rgb = to_rgb_uint8(img, name, "bgr")  # OpenCV decodes colour images as BGR(A)
    return apply_orientation(rgb, orientation) if orientation != 1 else rgb


def _decode_with_pillow(data: bytes, name: str) -> np.ndarray:
    """Fallback for formats OpenCV cannot decode (e.g. GIF)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in ("RGB", "L", "RGBA", "LA", "I;16"):
                im = im.convert("RGB")
            return np.asarray(im)
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot decode image ({exc})") from exc


def read_path(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int | None = None
) -> np.ndarray:
    """Read and decode an image file (see ``decode_bytes``)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read file ({exc.strerror})") from exc
    return decode_bytes(data, str(p), max_pixels=max_pixels, min_side=min_side)


def load_image(
    image: ImageInput,
    *,
    color_order: ColorOrder = "rgb",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    min_side: int | None = None,
) -> np.ndarray:
    """Any supported image input to HxWx3 uint8 RGB. ``color_order`` applies to numpy arrays only; ``min_side``
    (encoded files only) allows a reduced-scale JPEG decode that keeps the shorter side at least that long."""
    if isinstance(image, (str, os.PathLike)):
        return read_path(image, max_pixels=max_pixels, min_side=min_side)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_bytes(bytes(image), name or "<bytes>", max_pixels=max_pixels, min_side=min_side)
    if isinstance(image, np.ndarray):
        label = name or "<array>"
        if image.ndim >= 2 and image.shape[0] * image.shape[1] > max_pixels:
            raise InputError(f"{label}: frame of {image.shape[1]}x{image.shape[0]} is above {max_pixels:,} pixels")
        return to_rgb_uint8(image, label, color_order)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a runtime dependency
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(image, Image.Image):
        label = name or "<PIL image>"
        if image.width * image.height > max_pixels:
            raise InputError(f"{label}: image of {image.width}x{image.height} is above {max_pixels:,} pixels")
        im = image if image.mode in ("RGB", "L", "RGBA", "LA", "I;16") else image.convert("RGB")
        return apply_orientation(to_rgb_uint8(np.asarray(im), label, "rgb"), _orientation(image))
    raise InputError(
        f"{name or 'input'}: unsupported image type {type(image).__name__} "
        "(give a path, encoded bytes, a PIL image or an HxWx3 uint8 numpy array)"
    )
