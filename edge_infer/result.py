"""Prediction results: what every ``Predictor.predict`` returns, serialisable to the CLI's and the shim's JSON.

``Prediction`` is one classified image (label, score, top-k, timings); ``TabularPrediction`` one predicted feature
row (class and probabilities, or a regressor's value). Both are ``Result``\\ s: ``to_dict()`` and ``timings_ms``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class Result(ABC):
    """What a predictor returns for one input."""

    timings_ms: dict[str, float]

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (one line of ``predict --out``, one shim answer)."""


@dataclass(frozen=True)
class ClassScore:
    label: str
    class_id: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "class_id": self.class_id, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Prediction(Result):
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


@dataclass(frozen=True)
class TabularPrediction(Result):
    """One predicted row: label (or value), class id and per-class probabilities (classifiers only)."""

    prediction: str | float
    class_id: int | None = None
    probabilities: dict[str, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"prediction", "class_id", "probabilities"}`` (classifiers) or ``{"prediction"}`` (regressors).

        Probabilities are rounded to 5 decimals: ONNX computes them in float32, so further digits are noise.
        """
        if self.class_id is None:
            return {"prediction": self.prediction}
        probs = {k: round(v, 5) for k, v in (self.probabilities or {}).items()}
        return {"prediction": self.prediction, "class_id": self.class_id, "probabilities": probs}
