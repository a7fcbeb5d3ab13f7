"""What every format exporter receives (``ExportContext``), and what it gives back (``ExportedFile``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_infer.manifest import OutputSpec, RuntimeHints
from edge_infer.preprocess import Preprocessor
from edge_infer.spec import ImageInputSpec, InputSpec, ModelSpec
from exporters.options import ExportOptions

if TYPE_CHECKING:
    from targets import Target

    from exporters.tabular import TabularSpec


@dataclass
class ExportContext:
    """Shared state of one ``export`` call: the spec, the eager model (built once), inputs and settings.

    ``spec`` is a ``ModelSpec`` (image models) or a ``TabularSpec`` (scikit-learn models); ``cache`` holds what one
    format makes and another reuses (the fp32 ONNX file that onnx-int8 and ort both start from).
    """

    spec: ModelSpec | TabularSpec
    out_dir: Path
    stem: str
    target: Target | None = None
    calibration: Path | None = None
    verify_images: dict[str, np.ndarray] = field(default_factory=dict)
    options: ExportOptions = field(default_factory=ExportOptions)
    calibration_sources: set[str] = field(default_factory=set)  # photo names seen by calibration
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def image_spec(self) -> ModelSpec:
        """The spec of an image model (image exporters only run on these)."""
        if not isinstance(self.spec, ModelSpec):
            raise TypeError(f"{self.spec.name} is not an image model")
        return self.spec

    def holdout_names(self) -> list[str]:
        """Verification images whose source photo was not used for calibration."""
        return [n for n in self.verify_images if n.split("#", 1)[0] not in self.calibration_sources]

    @cached_property
    def model(self) -> Any:
        """The eager model in eval mode (built once per export call)."""
        return self.image_spec.build()

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor(self.image_spec.preprocess)

    @cached_property
    def verify_batch(self) -> np.ndarray:
        """The verification images preprocessed, stacked (N, ...)."""
        return np.concatenate([self.preprocessor(im) for im in self.verify_images.values()])

    @cached_property
    def reference_outputs(self) -> np.ndarray:
        """Eager float outputs on ``verify_batch`` (computed once, shared by every format's verification)."""
        import torch

        with torch.inference_mode():
            return np.concatenate([self.model(torch.from_numpy(x[None])).numpy() for x in self.verify_batch])

    def example_input(self, batch: int = 1) -> Any:
        import torch

        shape = self.image_spec.preprocess.input_shape(batch)
        if len(self.verify_images):
            x = self.verify_batch[:batch]
            if x.shape[0] == batch:
                return torch.from_numpy(np.ascontiguousarray(x))
        return torch.randn(*shape)  # type: ignore[arg-type]

    def path_for(self, suffix: str) -> Path:
        return self.out_dir / f"{self.stem}{suffix}"


@dataclass
class ExportedFile:
    """An exporter's result: the model file plus what it adds to the manifest.

    ``export_info``: format-specific facts (the manifest's ``export`` details); ``runtime``: settings the runtime must
    apply; ``verification``: extra checks the exporter ran (merged into the verification report; a ``status`` of
    ``failed`` there fails the artifact); ``input`` / ``output``: the model's tensors when they differ from what the
    spec says (None: from the spec); ``image_input``: what the runtime hands the file (None: the float tensor).
    """

    path: Path
    export_info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    input: InputSpec | None = None
    output: OutputSpec | None = None
    image_input: ImageInputSpec | None = None
    runtime: RuntimeHints = field(default_factory=RuntimeHints)
    verification: dict[str, Any] = field(default_factory=dict)
