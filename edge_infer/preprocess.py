"""Turn a decoded RGB image into the model's input tensor, following the manifest's PreprocessSpec (OpenCV/numpy)."""

from __future__ import annotations

import cv2
import numpy as np

from edge_infer.spec import PreprocessSpec

_INTERP = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
}


class Preprocessor:
    """Callable: HxWx3 uint8 RGB -> float32 tensor of shape (1, 3, crop, crop) or (1, crop, crop, 3)."""

    def __init__(self, spec: PreprocessSpec) -> None:
        self.spec = spec
        scale = np.float32(spec.scale)
        std = np.asarray(spec.std, dtype=np.float32)
        mean = np.asarray(spec.mean, dtype=np.float32)
        # mean/std are given in the model's channel order; (x * scale - mean) / std  ==  x * (scale / std) - mean / std
        self._mul = (scale / std).astype(np.float32)
        self._add = (-mean / std).astype(np.float32)
        self._interp = _INTERP[spec.interpolation]

    def resize_crop(self, rgb: np.ndarray) -> np.ndarray:
        s = self.spec
        h, w = rgb.shape[:2]
        ratio = s.resize / min(h, w)
        nw, nh = max(s.crop, round(w * ratio)), max(s.crop, round(h * ratio))
        if (nw, nh) != (w, h):
            # Shrinking with INTER_LINEAR aliases; INTER_AREA is what PIL's antialiased resize approximates.
            interp = cv2.INTER_AREA if (ratio < 1 and self._interp == cv2.INTER_LINEAR) else self._interp
            rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
        top, left = (nh - s.crop) // 2, (nw - s.crop) // 2
        return rgb[top : top + s.crop, left : left + s.crop]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        img = self.resize_crop(rgb)
        if self.spec.channel_order == "BGR":
            img = img[:, :, ::-1]
        x = img.astype(np.float32) * self._mul + self._add
        if self.spec.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None])
