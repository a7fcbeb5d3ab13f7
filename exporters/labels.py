"""Class names that ship with installed packages (no downloads)."""

from __future__ import annotations

from functools import cache


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, from torchvision's weight metadata."""
    from torchvision.models import ResNet18_Weights

    cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    if len(cats) != 1000:  # pragma: no cover - would mean torchvision changed its metadata
        raise RuntimeError(f"expected 1000 ImageNet classes, torchvision has {len(cats)}")
    return cats
