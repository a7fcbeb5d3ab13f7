"""Prediction results: label, score, top-k and a timing breakdown, serialisable to the CLI's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClassScore:
    label: str
    class_id: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "class_id": self.class_id, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Prediction:
    """One classified image. ``timings_ms`` has ``preprocess`` (decode + resize + normalise), ``inference``, ``total``."""

    label: str
    class_id: int
    score: float
    top_k: tuple[ClassScore, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    input: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "label": self.label,
            "class_id": self.class_id,
            "score": round(self.score, 6),
            "top_k": [c.to_dict() for c in self.top_k],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
