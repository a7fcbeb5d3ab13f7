"""The local HTTP shim: the same predict calls over HTTP (FastAPI, or a thin Flask variant), and a client for it.

    edge-infer serve out/lite0/efficientnet_lite0.onnx            # http://127.0.0.1:8000/docs
    curl -X POST -F file=@photo.jpg http://127.0.0.1:8000/predict

Needs the ``serve`` extra. Nothing here is imported by ``import edge_infer``.
"""

from __future__ import annotations

from edge_infer.serve.core import ServeConfig, ShimCore

__all__ = ["ServeConfig", "ShimCore"]
