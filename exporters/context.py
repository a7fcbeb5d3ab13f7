"""What every format exporter receives, and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.preprocess import Preprocessor
from edge_infer.spec import ModelSpec


@dataclass
class ExportContext:
    """Shared state of one ``export`` call: the spec, the eager model (built once), inputs and settings."""

    spec: ModelSpec
    out_dir: Path
    stem: str
    target: Any = None  # targets.Target | None
    calibration: Path | None = None
    verify_images: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    calibration_sources: set[str] = field(default_factory=set)  # photo names seen by calibration

    def holdout_names(self) -> list[str]:
        """Verification images whose source photo was not used for calibration."""
        return [n for n in self.verify_images if n.split("#", 1)[0] not in self.calibration_sources]

    @cached_property
    def model(self) -> Any:
        """The eager model in eval mode (built once per export call)."""
        return self.spec.build()

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor(self.spec.preprocess)

    @cached_property
    def verify_batch(self) -> np.ndarray:
        """The verification images preprocessed, stacked (N, ...)."""
        return np.concatenate([self.preprocessor(im) for im in self.verify_images.values()])

    @cached_property
    def reference_outputs(self) -> np.ndarray:
        """Eager float outputs on ``verify_batch`` (computed once, shared by every format's verification)."""
        import torch

        with torch.inference_mode():
            return np.concatenate(
                [self.model(torch.from_numpy(x[None])).numpy() for x in self.verify_batch]
            )

    def example_input(self, batch: int = 1) -> Any:
        import torch

        shape = self.spec.preprocess.input_shape(batch)
        if len(self.verify_images):
            x = self.verify_batch[:batch]
            if x.shape[0] == batch:
                return torch.from_numpy(np.ascontiguousarray(x))
        return torch.randn(*shape)  # type: ignore[arg-type]

    def path_for(self, suffix: str) -> Path:
        return self.out_dir / f"{self.stem}{suffix}"


@dataclass
class ExportedFile:
    """An exporter's result: the model file plus what it adds to the manifest."""

    path: Path
    export_info: dict[str, Any] = field(default_factory=dict)  # merged into manifest["export"]
    notes: list[str] = field(default_factory=list)
    input_shape: tuple[int | None, ...] | None = None  # None: (dynamic batch, ...) from the spec
    extra: dict[str, Any] = field(default_factory=dict)  # extra top-level manifest sections
