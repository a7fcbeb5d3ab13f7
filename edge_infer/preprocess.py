"""Turn a decoded RGB image into the model's input, following the manifest's PreprocessSpec (OpenCV).

The fast path (``Preprocessor``) resizes only the part of the frame the center crop keeps. OpenCV's ``INTER_AREA`` is
quick at whole-number ratios (2x has SIMD code) and slow at fractional ones, so: at ratios of 4 or more it first
averages whole k x k blocks (k = ratio // 2, so the final area step still averages 2-4 pixels a side); at ratios
between 1 and 2 (a 640x480 frame for a 256/224 model) it enlarges the region bilinearly to twice the crop and then
halves it with ``INTER_AREA`` (an area average of the same footprint, 2.5x cheaper). It does scale, mean/std, channel order and layout in one ``cv2.dnn.blobFromImageWithParams``
call on the crop. For an artifact that takes uint8 pixels (``ImageInputSpec.pixels``) it stops after the crop: the
graph does the rest. ``reference_resize_crop`` / ``reference_tensor`` are the straightforward pipeline (resize the
whole frame, crop, convert in numpy) that the fast path is tested against: crops within a few grey levels on average
(``tests/test_pixels.py`` states the bounds), tensors of the same crop equal within 1e-6.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_infer.spec import ImageInputSpec, PreprocessSpec

# Bilinear is OpenCV's bit-exact fixed-point kernel: INTER_LINEAR's SIMD paths round differently on ARM (NEON) and
# x86 (AVX), which moved every upscaled crop by a grey level on arm64 (94 of 195 verification images, 2026-12-07).
_INTERP = {
    "bilinear": cv2.INTER_LINEAR_EXACT,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
}
_LAYOUT = {"NCHW": cv2.DNN_LAYOUT_NCHW, "NHWC": cv2.DNN_LAYOUT_NHWC}
MIN_SIGMA = 0.2  # a 3x3 Gaussian narrower than this hardly changes 8-bit pixels: skipped


def resized_size(spec: PreprocessSpec, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the frame once its shorter side is ``spec.resize`` (never smaller than the crop)."""
    ratio = spec.resize / min(width, height)
    return max(spec.crop, round(width * ratio)), max(spec.crop, round(height * ratio))


def _interpolation(spec: PreprocessSpec, shrinking: bool) -> int:
    interp = _INTERP[spec.interpolation]
    # Shrinking with bilinear sampling aliases; INTER_AREA is what PIL's antialiased resize approximates.
    return cv2.INTER_AREA if shrinking and interp == cv2.INTER_LINEAR_EXACT else interp


def reference_resize_crop(spec: PreprocessSpec, rgb: np.ndarray) -> np.ndarray:
    """Resize the whole frame (shorter side to ``resize``), then center-crop: the definition of the crop."""
    h, w = rgb.shape[:2]
    nw, nh = resized_size(spec, w, h)
    if (nw, nh) != (w, h):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=_interpolation(spec, nw < w))
    top, left = (nh - spec.crop) // 2, (nw - spec.crop) // 2
    return rgb[top : top + spec.crop, left : left + spec.crop]


def reference_tensor(spec: PreprocessSpec, crop: np.ndarray) -> np.ndarray:
    """A crop -> the float tensor, in numpy: channel order, ``(x * scale - mean) / std``, layout, batch of one."""
    img = crop[:, :, ::-1] if spec.channel_order == "BGR" else crop
    std = np.asarray(spec.std, dtype=np.float32)
    x = img.astype(np.float32) * (np.float32(spec.scale) / std) + (-np.asarray(spec.mean, dtype=np.float32) / std)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


def prefilter_sigma(ratio: float) -> float:
    """The Gaussian sigma (in source pixels) that, followed by bilinear sampling, blurs like an antialiased bilinear
    shrink by ``ratio`` (PIL's, which torchvision's ``Resize`` uses): the triangle filter's variance r^2/6 less half
    of what bilinear sampling adds on average (1/12); fitted on real photos at ratios 1.2-1.9 (docs/pixels.md)."""
    return math.sqrt(max(0.0, ratio * ratio / 6.0 - 1.0 / 12.0))


def _shrink_under_2x(region: np.ndarray, crop: int) -> np.ndarray:
    """``region`` (under twice the crop a side) -> crop x crop: a 3x3 Gaussian sized to the ratio, then bilinear
    sampling. Both are OpenCV's bit-exact 8-bit fixed-point kernels (``GaussianBlur`` on CV_8U,
    ``INTER_LINEAR_EXACT``): the same pixels on ARM (NEON) as on x86 (AVX). (``INTER_LINEAR``'s SIMD paths round
    differently per platform, which once flipped a near-tie on arm64.)"""
    h, w = region.shape[:2]
    sx, sy = prefilter_sigma(w / crop), prefilter_sigma(h / crop)
    if max(sx, sy) >= MIN_SIGMA:
        region = cv2.GaussianBlur(region, (3, 3), sigmaX=max(sx, MIN_SIGMA), sigmaY=max(sy, MIN_SIGMA))
    return cv2.resize(region, (crop, crop), interpolation=cv2.INTER_LINEAR_EXACT)  # type: ignore[no-any-return]


class Preprocessor:
    """Callable: HxWx3 uint8 RGB -> the model's input batch of one.

    ``image_input`` float32 (default): a float32 tensor (1, 3, crop, crop) or (1, crop, crop, 3) as ``spec.layout``
    says. uint8: the crop's pixels, (1, crop, crop, 3) RGB for NHWC (or (1, 3, crop, crop) for NCHW), no float copy.
    """

    def __init__(self, spec: PreprocessSpec, image_input: ImageInputSpec | None = None) -> None:
        self.spec = spec
        self.image_input = image_input or ImageInputSpec.tensor(spec)
        params = cv2.dnn.Image2BlobParams()
        # blobFromImage computes (x - mean) * scalefactor per channel: mean in pixel units, scalefactor = scale / std
        params.scalefactor = (*(float(spec.scale / s) for s in spec.std), 0.0)
        params.mean = (*(float(m / spec.scale) for m in spec.mean), 0.0)
        params.size = (spec.crop, spec.crop)
        params.swapRB = spec.channel_order == "BGR"
        params.ddepth = cv2.CV_32F
        params.datalayout = _LAYOUT[spec.layout]
        self._blob = params

    def resize_crop(self, rgb: np.ndarray) -> np.ndarray:
        """The center crop (crop x crop x 3, uint8, contiguous) of the frame resized to ``spec.resize``.

        Only the source rectangle under the crop is resized; a shrink by 4x or more first averages whole
        k x k blocks (``INTER_AREA`` at the integer ratio k = ratio // 2), then resizes the rest of the way; a shrink
        by less than 2x goes through twice the crop size (bilinear up, then an exact 2x area average).
        """
        s = self.spec
        h, w = rgb.shape[:2]
        nw, nh = resized_size(s, w, h)
        top, left = (nh - s.crop) // 2, (nw - s.crop) // 2
        if (nw, nh) == (w, h):
            return np.ascontiguousarray(rgb[top : top + s.crop, left : left + s.crop])
        sx, sy = w / nw, h / nh  # source pixels per resized pixel
        x0, x1 = round(left * sx), min(w, round((left + s.crop) * sx))
        y0, y1 = round(top * sy), min(h, round((top + s.crop) * sy))
        region = rgb[y0:y1, x0:x1]
        interp = _interpolation(s, nw < w)
        if interp == cv2.INTER_AREA:
            k = min(x1 - x0, y1 - y0) // (2 * s.crop)
            if k >= 2:
                rw, rh = (x1 - x0) // k, (y1 - y0) // k
                region = cv2.resize(region[: rh * k, : rw * k], (rw, rh), interpolation=cv2.INTER_AREA)
            elif max(x1 - x0, y1 - y0) < 2 * s.crop:
                return _shrink_under_2x(region, s.crop)
        if region.shape[:2] == (s.crop, s.crop):
            return np.ascontiguousarray(region)
        return cv2.resize(region, (s.crop, s.crop), interpolation=interp)

    def tensor(self, crop: np.ndarray) -> np.ndarray:
        """A crop from ``resize_crop`` -> what the model takes (uint8 pixels or the float tensor), batch of one."""
        if self.image_input.pixels:
            if self.image_input.layout == "NCHW":
                return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])
            return crop[None]
        return cv2.dnn.blobFromImageWithParams(crop, self._blob)  # type: ignore[no-any-return]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.tensor(self.resize_crop(rgb))

    def from_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """``self(rgb)`` for a camera or video frame in OpenCV's BGR order (HxWx3 uint8): crop first, then swap the
        crop's channels. Every resize step works on each channel alone, so the result is the same, bit for bit, as
        converting the whole frame first, at a tenth of the conversion's cost (a 640x480 frame: 0.2-0.4 ms)."""
        return self.tensor(cv2.cvtColor(self.resize_crop(bgr), cv2.COLOR_BGR2RGB))
