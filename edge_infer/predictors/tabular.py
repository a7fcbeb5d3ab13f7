"""``TabularPredictor``: the task base of tabular models (scikit-learn style classifiers and regressors).

``predict(features)`` takes one row (a list of numbers in the manifest's feature order, or ``{name: number}``) or
many rows (a list of rows, or a 2-D array), validates them against the manifest (names, count, numbers, finite,
range rules) and returns ``TabularPrediction`` objects whose ``to_dict()`` is
``{"prediction": "setosa", "class_id": 0, "probabilities": {"setosa": 1.0, ...}}`` (regressors:
``{"prediction": 3.2}``). Subclasses implement ``_load`` and ``_infer``.
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, InputError
from edge_infer.features import FeatureSpec
from edge_infer.predictors.base import Predictor
from edge_infer.result import TabularPrediction


class TabularPredictor(Predictor):
    """Reads the feature facts from the manifest and validates every row before the model sees it."""

    takes: ClassVar[str] = "features"

    def _setup(self) -> None:
        if self.manifest.features is None:
            raise ArtifactError(f"{self.where}: a tabular manifest needs a 'features' section with a 'names' list")
        self.features: FeatureSpec = self.manifest.features
        classes = self.manifest.classes if self.manifest.classes is not None else tuple(range(len(self.labels)))
        if self.is_classifier and (not self.labels or len(classes) != len(self.labels)):
            raise ArtifactError(f"{self.where}: a classifier's manifest needs 'labels' and 'classes' of the same length")
        self.classes: list[Any] = list(classes)
        self._class_index = {str(c): i for i, c in enumerate(self.classes)}

    @property
    def is_classifier(self) -> bool:
        return self.task.classes

    @property
    def max_batch(self) -> int | None:
        return None

    # -- backend hook ---------------------------------------------------------------------------------------------
    @abstractmethod
    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Validated (N, features) float64 -> predicted values (N,) and probabilities (N, classes) or None."""

    # -- the pieces ----------------------------------------------------------------------------------------------
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: probabilities (N, classes) of a classifier, predicted values (N,) of a regressor."""
        values, probs = self._infer(np.asarray(batch, dtype=np.float64))
        return probs if probs is not None else np.asarray(values, dtype=np.float64)

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """``run`` already returns probabilities (or values)."""
        return np.asarray(raw)

    def preprocess(self, row: Any) -> np.ndarray:
        """One feature row (numbers in feature order, or a {name: value} mapping) -> validated float64 (1, features),
        the model input; what ``edge-infer bench`` times as preprocessing. Images are refused."""
        if isinstance(row, (str, os.PathLike, bytes)) or (isinstance(row, np.ndarray) and row.ndim > 1):
            raise InputError(
                f"{self.name} is a tabular model ({self.manifest.task}): it takes feature rows, not images; "
                "use predict(features)"
            )
        return self.features.row_array(row)[None]

    def validate(self, features: Any) -> tuple[np.ndarray, bool]:
        """Check rows against the manifest; float64 (N, features) and whether a single row was given."""
        return self.features.rows(features)

    # -- public API ----------------------------------------------------------------------------------------------
    def predict(
        self, features: Any, *, top_k: int | None = None, name: str | None = None
    ) -> TabularPrediction | list[TabularPrediction]:
        """Predict one row (returns one TabularPrediction) or many rows (returns a list, in order).

        ``top_k`` keeps only the k most probable classes in ``probabilities`` (default: every class).
        """
        x, single = self.validate(features)
        preds = self.predict_rows(x, top_k=top_k)
        return preds[0] if single else preds

    def predict_batch(self, rows: Sequence[Any], *, top_k: int | None = None) -> list[TabularPrediction]:
        """Predict several rows in one model call; always returns a list."""
        x, _single = self.validate(rows)
        return self.predict_rows(x, top_k=top_k)

    def predict_rows(self, x: np.ndarray, *, top_k: int | None = None) -> list[TabularPrediction]:
        """Predict already validated float64 rows (from ``validate``)."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        t0 = time.perf_counter()
        values, probs = self._infer(x)
        per_row = {"inference": (time.perf_counter() - t0) * 1e3 / max(1, len(x))}
        if probs is None:
            return [TabularPrediction(float(v), timings_ms=dict(per_row)) for v in np.asarray(values).reshape(-1)]
        keys = [str(v) for v in np.asarray(values).reshape(-1).tolist()]  # .tolist(): plain Python, fast per row
        return [self._classified(k, p, top_k, per_row) for k, p in zip(keys, np.asarray(probs).tolist())]

    def _classified(
        self, key: str, probs: list[float], top_k: int | None, timings: dict[str, float]
    ) -> TabularPrediction:
        class_id = self._class_index.get(key)
        if class_id is None:  # a label the manifest does not know: fall back to the most probable class
            class_id = max(range(len(probs)), key=probs.__getitem__)
        if top_k is not None and top_k < len(probs):  # the k most probable; otherwise every class, in class order
            order = sorted(range(len(probs)), key=lambda i: -probs[i])[:top_k]
            probabilities = {self.labels[i]: probs[i] for i in order}
        else:
            probabilities = dict(zip(self.labels, probs))
        return TabularPrediction(self.labels[class_id], class_id, probabilities, dict(timings))
