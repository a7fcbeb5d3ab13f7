"""Build side of edge-infer: PyTorch models -> verified artifacts. Needs the ``export`` extra (torch, onnx)."""

from exporters.api import ExportOutcome, export
from exporters.models import get_model_spec, model_names, register_model
from exporters.registry import register_exporter

__all__ = ["ExportOutcome", "export", "get_model_spec", "model_names", "register_exporter", "register_model"]
