"""Library versions recorded in manifests and benchmark results."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("edge-infer", "torch", "torchvision", "onnx", "onnxscript", "onnxruntime", "numpy", "opencv-python-headless")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
