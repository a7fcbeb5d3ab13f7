"""TorchScript backends: ``.pt`` (``torch.jit.load``) and ``.ptl`` (the lite interpreter). Torch is imported here,
only when such an artifact is loaded."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_infer.backends.base import Predictor
from edge_infer.errors import ArtifactError, BackendUnavailableError, first_line


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError("running TorchScript artifacts", "torch", "export") from None
    return torch


def quantized_engine(manifest_export: dict[str, Any]) -> str | None:
    """The torch quantized engine an int8 artifact was built for (None for float artifacts)."""
    quant = manifest_export.get("quantization")
    return str(quant["engine"]) if isinstance(quant, dict) and quant.get("engine") else None


class TorchScriptPredictor(Predictor):
    """Image classifier on a TorchScript module (``torch.jit.load``). ``threads`` sets torch's intra-op threads,
    which is a process-wide setting in torch."""

    backend: ClassVar[str] = "torchscript"
    loader: ClassVar[str] = "torch.jit.load"  # named in load errors

    def _load(self) -> None:
        self.torch = import_torch()
        self.torch.set_num_threads(self.threads)
        engine = quantized_engine(self.manifest.export)
        if engine is not None:
            supported = self.torch.backends.quantized.supported_engines
            if engine not in supported:
                raise ArtifactError(
                    f"{self.artifact.path}: int8 artifact built for the torch quantized engine {engine!r}, which this "
                    f"torch build lacks (has: {', '.join(e for e in supported if e != 'none')}); "
                    "re-export it with a --target for this machine"
                )
            self.torch.backends.quantized.engine = engine  # packed weights are rebuilt for this engine on load
        self.module = self._load_module(str(self.artifact.path))

    def _load_module(self, path: str) -> Any:
        try:
            return self._open_module(path)
        except Exception as exc:
            raise ArtifactError(f"{path}: {self.loader} cannot load this file ({first_line(exc)})") from None

    def _open_module(self, path: str) -> Any:
        return self.torch.jit.load(path, map_location="cpu").eval()

    def _no_grad(self) -> Any:
        return self.torch.inference_mode()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._no_grad():
            out = self.module(self.torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return out.numpy()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.module = None


class LitePredictor(TorchScriptPredictor):
    """Image classifier on lite-interpreter bytecode (``.ptl``), as a PyTorch Mobile app would run it."""

    backend: ClassVar[str] = "lite"
    loader: ClassVar[str] = "the lite interpreter"

    def _open_module(self, path: str) -> Any:
        from torch.jit.mobile import _load_for_lite_interpreter

        return _load_for_lite_interpreter(path)

    def _no_grad(self) -> Any:
        return self.torch.no_grad()  # as before for lite modules: plain no_grad, not inference mode
