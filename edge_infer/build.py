"""The one door from the device side to the build side (``exporters/``: torch, onnx, scikit-learn; the ``export``
extra). Each function imports ``exporters`` only when called and names the extra to install when it is missing;
nothing else in ``edge_infer`` imports ``exporters`` (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_infer.errors import BackendUnavailableError

if TYPE_CHECKING:
    import numpy as np

    from exporters.api import ExportOutcome
    from exporters.bundle import BundleResult


@contextmanager
def _build_side(what: str) -> Iterator[None]:
    """Turn a missing build-side library into one line naming the ``export`` extra."""
    try:
        yield
    except ImportError as exc:
        if isinstance(exc, BackendUnavailableError):
            raise
        raise BackendUnavailableError(what, exc.name or "torch", "export") from exc


def export(*args: Any, **kwargs: Any) -> list[ExportOutcome]:
    """Export a model to verified artifacts; see ``exporters.api.export``."""
    with _build_side("exporting models"):
        from exporters.api import export as _export
    return _export(*args, **kwargs)


def build_bundle(*args: Any, **kwargs: Any) -> BundleResult:
    """Export a model for a target profile into one bundle folder; see ``exporters.bundle.build_bundle``."""
    with _build_side("exporting models"):
        from exporters.bundle import build_bundle as _build_bundle
    return _build_bundle(*args, **kwargs)


def source_model(name: str) -> Any:
    """The eval-mode ``torch.nn.Module`` of the registered (or torchvision) model ``name``: what an artifact was
    exported from, rebuilt for the eager baseline."""
    with _build_side("the eager PyTorch baseline"):
        from exporters.models import get_model_spec

        return get_model_spec(name).build().eval()


def sample_photos(count: int | None = None, *, extra: bool = False) -> dict[str, np.ndarray]:
    """The built-in real photos (from scikit-learn and scikit-image), decoded RGB, by file name; ``extra`` adds the
    photos used only for verification and agreement checks."""
    with _build_side("the built-in sample photos"):
        from exporters.samples import DEMO_PHOTOS, EXTRA_PHOTOS, load_photos

        photos = load_photos({**DEMO_PHOTOS, **EXTRA_PHOTOS} if extra else DEMO_PHOTOS)
    return dict(list(photos.items())[:count]) if count is not None else photos


def write_sample_video(out: str | os.PathLike[str], **options: Any) -> Path:
    """A 640x480 30 FPS MP4 of the sample photos in moving crops (for ``edge-infer run`` and ``bench --source``);
    ``options`` as ``exporters.samples.write_sample_video`` (size, fps, frames_per_photo)."""
    with _build_side("the built-in sample video"):
        from exporters.samples import write_sample_video as _write

        return _write(Path(out), **options)


def write_samples(out: str | os.PathLike[str], *, extra: bool = False) -> list[Path]:
    """Copy the built-in sample photos into ``out``; returns the files written."""
    with _build_side("the built-in sample photos"):
        from exporters.samples import write_samples as _write_samples

        return _write_samples(Path(out), extra=extra)
