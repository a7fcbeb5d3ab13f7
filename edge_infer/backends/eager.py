"""The PyTorch eager baseline: the artifact's source model, rebuilt and run the way most users run it today.

The model comes from the artifact's manifest (``model.name``, rebuilt on the build side through
``edge_infer.build.source_model``) and is fed by the artifact's own preprocessing, so the only difference from the
artifact is the runtime. Needs the ``export`` extra.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edge_infer.backends.torchscript import import_torch
from edge_infer.errors import ArtifactError
from edge_infer.predictors import ImageClassifier


class EagerClassifier(ImageClassifier):
    """An eval-mode ``torch.nn.Module`` behind the image classifier interface."""

    backend: ClassVar[str] = "torch"

    def _load(self) -> None:
        from edge_infer.build import source_model

        self.torch: Any = import_torch(self.backend)
        if not self.manifest.model.name:
            raise ArtifactError(f"{self.where}: manifest names no source model, so there is no eager baseline")
        self.torch.set_num_threads(self.threads)
        self.model = source_model(self.manifest.model.name)
        # A PyTorch module takes NCHW; an artifact exported channels-last (a .tflite) is fed NHWC by its manifest.
        self._nhwc = self.manifest.preprocess is not None and self.manifest.preprocess.layout == "NHWC"

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        if torch.get_num_threads() != self.threads:  # another torch target may have changed the global setting
            torch.set_num_threads(self.threads)
        if self._nhwc:
            batch = batch.transpose(0, 3, 1, 2)
        with torch.inference_mode():
            out: np.ndarray = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
        return out

    def close(self) -> None:
        self.model = None
