"""Library versions recorded in manifests (the build-side list; the reader lives in edge_infer.machine)."""

from __future__ import annotations

from edge_infer.machine import library_versions

PACKAGES = ("edge-infer", "torch", "torchvision", "onnx", "onnxscript", "onnxruntime", "numpy", "opencv-python-headless")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    return library_versions(packages)
