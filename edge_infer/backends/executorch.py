"""ExecuTorch backend: ``.pte`` programs (fp32 or int8, XNNPACK-delegated) on ExecuTorch's Python runtime.

``threads`` sets the size of ExecuTorch's CPU thread pool, which XNNPACK uses; like torch's, it is process-wide.
The Python runtime (``executorch.runtime``) ships in the ``executorch`` wheel, which depends on torch; an app on a
phone links the C++ runtime instead and needs neither.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, BackendUnavailableError, first_line
from edge_infer.native_log import native_stderr_filtered
from edge_infer.predictors import ImageClassifier

# What ExecuTorch's runtime (and torch, which it imports) print on load: CPU probing, thread pool size, a torch
# deprecation logged on import. Anything else (warnings, errors) is passed on.
NATIVE_CHATTER = (
    r"^\[cpuinfo_utils\.cpp:\d+\] ", r"^\[threadpool\.cpp:\d+\] Resetting threadpool",
    r"^W\d{4} [\d:.]+ +\d+ .*torch/utils/_pytree\.py:\d+\] <enum .*register_constant",
)


def import_runtime() -> Any:
    """``executorch.runtime``, or a BackendUnavailableError naming the extra that installs it."""
    try:
        import executorch.runtime as runtime
    except ImportError as exc:
        import importlib.util

        from edge_infer.backends import get_backend

        row = get_backend("executorch")
        if row.installed and importlib.util.find_spec("torch") is None:  # its extension loads only with torch
            raise BackendUnavailableError("running ExecuTorch artifacts", "torch", row.extra) from exc
        raise row.unavailable("running ExecuTorch artifacts") from exc
    return runtime


def set_threads(threads: int) -> None:
    """Size ExecuTorch's CPU thread pool (process-wide), when this build can."""
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError:  # pragma: no cover - a build without the pybindings has no pool to size
        return
    reset = getattr(portable_lib, "_unsafe_reset_threadpool", None)
    if reset is not None:
        reset(threads)


class ExecuTorchClassifier(ImageClassifier):
    """Image classifier on an ExecuTorch program's ``forward`` method."""

    backend: ClassVar[str] = "executorch"

    def _load(self) -> None:
        with native_stderr_filtered(NATIVE_CHATTER):
            self._load_program()

    def _load_program(self) -> None:
        runtime = import_runtime()
        set_threads(self.threads)
        try:
            program = runtime.Runtime.get().load_program(str(self.path))
            self.method = program.load_method("forward")
        except Exception as exc:
            raise ArtifactError(f"{self.path}: ExecuTorch cannot load this program ({first_line(exc)})") from exc
        if self.method is None:
            raise ArtifactError(f"{self.path}: ExecuTorch program has no forward method")
        import torch  # the Python runtime takes and returns torch tensors (a dependency of the executorch wheel)

        self._torch = torch

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = self._torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        (out,) = self.method.execute([x])[:1]
        return np.asarray(out.numpy(), dtype=np.float32).copy()

    def close(self) -> None:
        self.method = None
