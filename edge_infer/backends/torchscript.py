"""TorchScript backends: ``.pt`` (``torch.jit.load``) and ``.ptl`` (the lite interpreter). Torch is imported here,
only when such an artifact is loaded."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, first_line
from edge_infer.predictors import ImageClassifier


def import_torch(backend: str = "torchscript") -> Any:
    """``torch``, or a BackendUnavailableError naming the extra that installs it."""
    try:
        import torch
    except ImportError as exc:
        from edge_infer.backends import get_backend

        raise get_backend(backend).unavailable("running TorchScript artifacts") from exc
    return torch


class TorchScriptClassifier(ImageClassifier):
    """Image classifier on a TorchScript module (``torch.jit.load``). ``threads`` sets torch's intra-op threads,
    which is a process-wide setting in torch."""

    backend: ClassVar[str] = "torchscript"
    loader: ClassVar[str] = "torch.jit.load"  # named in load errors

    def _load(self) -> None:
        self.torch = import_torch(self.backend)
        self.torch.set_num_threads(self.threads)
        engine = self.manifest.runtime.torch_qengine
        if engine is not None:
            supported = self.torch.backends.quantized.supported_engines
            if engine not in supported:
                raise ArtifactError(
                    f"{self.path}: int8 artifact built for the torch quantized engine {engine!r}, which this "
                    f"torch build lacks (has: {', '.join(e for e in supported if e != 'none')}); "
                    "re-export it with a --target for this machine"
                )
            self.torch.backends.quantized.engine = engine  # packed weights are rebuilt for this engine on load
        try:
            self.module = self._open_module(str(self.path))
        except Exception as exc:
            raise ArtifactError(f"{self.path}: {self.loader} cannot load this file ({first_line(exc)})") from exc

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


class LiteClassifier(TorchScriptClassifier):
    """Image classifier on lite-interpreter bytecode (``.ptl``), as a PyTorch Mobile app would run it."""

    backend: ClassVar[str] = "lite"
    loader: ClassVar[str] = "the lite interpreter"

    def _open_module(self, path: str) -> Any:
        from torch.jit.mobile import _load_for_lite_interpreter

        return _load_for_lite_interpreter(path)

    def _no_grad(self) -> Any:
        return self.torch.no_grad()  # lite modules: plain no_grad, not inference mode
