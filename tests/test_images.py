"""Image decoding: real photos in every shape users send, and every kind of bad file."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_infer.errors import InputError
from edge_infer.images import decode_bytes, load_image, read_path
from edge_infer.preprocess import Preprocessor
from edge_infer.spec import TF_PREPROCESS, PreprocessSpec
from pngs import png_header_only


@pytest.fixture(scope="module")
def coffee(samples_dir: Path) -> np.ndarray:
    return read_path(samples_dir / "coffee.png")


def test_path_bytes_pil_and_array_agree(samples_dir: Path, coffee: np.ndarray) -> None:
    path = samples_dir / "coffee.png"
    assert coffee.shape == (400, 600, 3) and coffee.dtype == np.uint8
    np.testing.assert_array_equal(load_image(path.read_bytes()), coffee)
    np.testing.assert_array_equal(load_image(Image.open(path)), coffee)
    np.testing.assert_array_equal(load_image(coffee), coffee)
    bgr = cv2.imread(str(path))
    np.testing.assert_array_equal(load_image(bgr, color_order="bgr"), coffee)
    # Without saying so, a BGR frame is taken as RGB: red and blue swap.
    np.testing.assert_array_equal(load_image(bgr)[:, :, ::-1], coffee)


@pytest.mark.parametrize("kind", ["gray", "gray1", "rgba", "uint16", "float"])
def test_other_pixel_layouts_become_rgb_uint8(coffee: np.ndarray, kind: str) -> None:
    gray = cv2.cvtColor(coffee, cv2.COLOR_RGB2GRAY)
    variants = {
        "gray": gray,
        "gray1": gray[:, :, None],
        "rgba": np.dstack([coffee, np.full(gray.shape, 255, np.uint8)]),
        "uint16": coffee.astype(np.uint16) * 257,
        "float": coffee.astype(np.float32) / 255.0,
    }
    out = load_image(variants[kind])
    assert out.shape == (400, 600, 3) and out.dtype == np.uint8
    if kind in ("rgba", "uint16", "float"):
        assert np.abs(out.astype(int) - coffee.astype(int)).max() <= 1


def test_encoded_gray_rgba_16bit_png_decode(tmp_path: Path, coffee: np.ndarray) -> None:
    bgr = cv2.cvtColor(coffee, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "g.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    for name in ("rgba.png", "16.png"):
        np.testing.assert_array_equal(read_path(tmp_path / name), coffee)
    g = read_path(tmp_path / "g.png")
    assert g.shape == coffee.shape and (g[:, :, 0] == g[:, :, 2]).all()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, not a picture"), "not an image"),
        (lambda p: p.write_bytes(png_header_only(30000, 30000)), "900,000,000 pixels"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.jpg"
    make(p)
    with pytest.raises(InputError, match=message) as err:
        read_path(p)
    assert str(p) in str(err.value)


def test_truncated_jpeg_and_png(samples_dir: Path) -> None:
    for name in ("flower.jpg", "coffee.png"):
        data = (samples_dir / name).read_bytes()
        with pytest.raises(InputError, match="truncated"):
            decode_bytes(data[: len(data) * 9 // 10], name)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_path(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="is a folder"):
        read_path(tmp_path)


def test_pixel_limit_is_configurable(samples_dir: Path) -> None:
    with pytest.raises(InputError, match="above the limit of 1,000 pixels"):
        load_image(samples_dir / "flower.jpg", max_pixels=1000)


def test_unsupported_inputs() -> None:
    with pytest.raises(InputError, match="unsupported image type"):
        load_image(12345)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="shape"):
        load_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="color_order"):
        load_image(np.zeros((4, 4, 3), np.uint8), color_order="rbg")  # type: ignore[arg-type]


def test_preprocess_matches_the_spec_by_hand(coffee: np.ndarray) -> None:
    x = Preprocessor(TF_PREPROCESS)(coffee)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    # Resize shorter side 400 -> 256 (600 -> 384), center crop 224: by hand with PIL's antialiased bilinear (what
    # torchvision's Resize does); the fast crop imitates it within half a grey level on average (tests/test_pixels.py)
    resized = np.asarray(Image.fromarray(coffee).resize((384, 256), Image.BILINEAR))
    crop = resized[16:240, 80:304].astype(np.float32)
    expected = ((crop / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    assert np.abs(x[0] - expected).mean() <= 0.5 * 2 / 255
    assert -1.0 <= x.min() and x.max() <= 1.0


def test_preprocess_nhwc_bgr_and_small_images() -> None:
    spec = PreprocessSpec(resize=32, crop=32, layout="NHWC", channel_order="BGR", mean=(0, 0, 0), std=(1, 1, 1))
    img = np.zeros((10, 20, 3), np.uint8)
    img[..., 0] = 255  # red in RGB
    x = Preprocessor(spec)(img)
    assert x.shape == (1, 32, 32, 3)
    assert np.allclose(x[0, :, :, 2], 1.0) and np.allclose(x[0, :, :, 0], 0.0)


def test_pil_image_other_modes(coffee: np.ndarray) -> None:
    pal = Image.fromarray(coffee).convert("P")
    out = load_image(pal)
    assert out.shape == coffee.shape
    buf = io.BytesIO()
    Image.fromarray(coffee).save(buf, format="GIF")
    assert decode_bytes(buf.getvalue(), "x.gif").shape == coffee.shape
