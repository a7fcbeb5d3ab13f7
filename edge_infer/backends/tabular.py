"""Tabular models (scikit-learn): ONNX Runtime backend (no pickle, no scikit-learn) and joblib backend (trusted only).

``predict(features)`` takes one row (a list of numbers in the manifest's feature order, or ``{name: number}``) or
many rows (a list of rows, or a 2-D array), validates them against the manifest (names, count, numbers, finite,
range rules) and returns ``TabularPrediction`` objects whose ``to_dict()`` is
``{"prediction": "setosa", "class_id": 0, "probabilities": {"setosa": 1.0, ...}}`` (regressors:
``{"prediction": 3.2}``).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.backends.base import Predictor, default_threads
from edge_infer.errors import ArtifactError, BackendUnavailableError, InputError
from edge_infer.features import FeatureSpec

CLASSIFICATION = "tabular-classification"
REGRESSION = "tabular-regression"
TABULAR_TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class TabularPrediction:
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


class TabularPredictor(Predictor):
    """Base of the tabular backends: reads the feature facts from the manifest and validates every row.

    Subclasses implement ``_load()`` and ``_infer(x)`` (validated float64 rows -> raw predicted values, and the
    class probabilities of a classifier).
    """

    backend: ClassVar[str] = ""
    accepts_trust: ClassVar[bool] = False  # runtime.load passes ``trust`` only to backends that need it

    def __init__(self, artifact: Artifact, *, threads: int | None = None) -> None:  # no image preprocessing
        self.artifact = artifact
        self.manifest = artifact.manifest
        self.threads = threads if threads is not None else default_threads()
        if self.threads < 1:
            raise InputError(f"threads must be at least 1, got {self.threads}")
        where = str(artifact.manifest_path)
        if self.manifest.task not in TABULAR_TASKS:
            tasks = ", ".join(TABULAR_TASKS)
            raise ArtifactError(f"{where}: task {self.manifest.task!r} is not a tabular task ({tasks})")
        self.features = FeatureSpec.from_dict(self.manifest.extra.get("features"), where=where)
        self.task = self.manifest.task
        self.labels: tuple[str, ...] = self.manifest.labels
        classes = self.manifest.extra.get("classes") or list(range(len(self.labels)))
        if self.is_classifier and (not self.labels or len(classes) != len(self.labels)):
            raise ArtifactError(f"{where}: a classifier's manifest needs 'labels' and 'classes' of the same length")
        self.classes: list[Any] = list(classes)
        self._class_index = {str(c): i for i, c in enumerate(self.classes)}
        self._load()

    @property
    def is_classifier(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def max_batch(self) -> int | None:
        return None

    # -- backend hooks -------------------------------------------------------------------------------------------
    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Validated (N, features) float64 -> predicted values (N,) and probabilities (N, classes) or None."""
        raise NotImplementedError

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """``run`` already returns probabilities (or values)."""
        return np.asarray(raw)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: probabilities (N, classes) of a classifier, predicted values (N,) of a regressor."""
        values, probs = self._infer(np.asarray(batch, dtype=np.float64))
        return probs if probs is not None else np.asarray(values, dtype=np.float64)

    def preprocess(self, row: Any, **_: Any) -> np.ndarray:  # type: ignore[override]
        """One feature row (numbers in feature order, or a {name: value} mapping) -> validated float64 (1, features),
        the model input; what ``edge-infer bench`` times as preprocessing. Images are refused."""
        if isinstance(row, (str, os.PathLike)) or (isinstance(row, np.ndarray) and row.ndim > 1):
            raise InputError(
                f"{self.name} is a tabular model ({self.task}): it takes feature rows, not images; "
                "use predict(features)"
            )
        return self.features.row_array(row)[None]

    # -- public API ----------------------------------------------------------------------------------------------
    def validate(self, features: Any) -> tuple[np.ndarray, bool]:
        """Check rows against the manifest; float64 (N, features) and whether a single row was given."""
        return self.features.rows(features)

    def predict(  # type: ignore[override]
        self, features: Any, *, top_k: int | None = None, **_: Any
    ) -> TabularPrediction | list[TabularPrediction]:
        """Predict one row (returns one TabularPrediction) or many rows (returns a list, in order).

        ``top_k`` keeps only the k most probable classes in ``probabilities`` (default: every class).
        """
        x, single = self.validate(features)
        preds = self.predict_rows(x, top_k=top_k)
        return preds[0] if single else preds

    def predict_batch(  # type: ignore[override]
        self, rows: Any, *, top_k: int | None = None, **_: Any
    ) -> list[TabularPrediction]:
        """Predict several rows in one model call; always returns a list."""
        x, _single = self.validate(rows)
        return self.predict_rows(x, top_k=top_k)

    def predict_rows(self, x: np.ndarray, *, top_k: int | None = None) -> list[TabularPrediction]:
        """Predict already validated float64 rows (from ``validate``)."""
        if top_k is not None and top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
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


class TabularOnnxPredictor(TabularPredictor):
    """A scikit-learn model converted by skl2onnx, on ONNX Runtime's CPU provider: needs only onnxruntime + numpy."""

    backend: ClassVar[str] = "onnxruntime"

    def _load(self) -> None:
        from edge_infer.backends.onnxrt import make_session

        self.session = make_session(str(self.artifact.path), self.threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        width = inp.shape[1] if len(inp.shape) == 2 else None
        if isinstance(width, int) and width != self.features.count:
            raise ArtifactError(
                f"{self.artifact.path}: model takes {width} features but the manifest lists {self.features.count}"
            )
        outputs = [o.name for o in self.session.get_outputs()]
        out = self.manifest.output
        self._value_name = str(out.get("label" if self.is_classifier else "value", outputs[0]))
        self._prob_name = str(out.get("probabilities", "probabilities")) if self.is_classifier else None
        missing = [n for n in (self._value_name, self._prob_name) if n is not None and n not in outputs]
        if missing:
            raise ArtifactError(f"{self.artifact.path}: model has no output {missing[0]!r} (outputs: {outputs})")

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.ascontiguousarray(x, dtype=np.float32)  # skl2onnx graphs take float32 (as scikit-learn's trees do)
        if self._prob_name is None:
            (values,) = self.session.run([self._value_name], {self.input_name: x})
            return np.asarray(values).reshape(-1), None
        values, probs = self.session.run([self._value_name, self._prob_name], {self.input_name: x})
        return np.asarray(values).reshape(-1), np.asarray(probs)

    def close(self) -> None:
        self.session = None


def untrusted_message(artifact: Artifact) -> str:
    """Why a pickle-based artifact is refused without trust, and what to use instead."""
    onnx = artifact.path.with_suffix(".onnx")
    alternative = (
        f"use the ONNX artifact beside it ({onnx.name}), which runs without pickle and without scikit-learn"
        if onnx.exists()
        else "export the model to ONNX (edge-infer export ... --formats onnx) and run that instead: it needs no "
        "pickle and no scikit-learn"
    )
    return (
        f"{artifact.path}: refusing to load a {artifact.manifest.format} file without trust: joblib/pickle files run "
        "code while they load, so a tampered or malicious file could do anything this process can. The sha256 check "
        "only proves the file matches its manifest. If you made this file or trust where it came from, pass "
        f"trust=True (CLI: --trust); otherwise {alternative}"
    )


class SklearnPredictor(TabularPredictor):
    """A joblib-saved scikit-learn estimator; loads only with trust=True and a matching sha256 (pickle runs code)."""

    backend: ClassVar[str] = "sklearn"
    accepts_trust: ClassVar[bool] = True

    def __init__(self, artifact: Artifact, *, threads: int | None = None, trust: bool = False) -> None:
        self.trust = trust is True
        super().__init__(artifact, threads=threads)

    def _load(self) -> None:
        if not self.trust:
            raise ArtifactError(untrusted_message(self.artifact))
        path: Path = self.artifact.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"{path}: cannot read ({exc.strerror})") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != self.manifest.sha256:  # checked on the very bytes that get unpickled
            raise ArtifactError(
                f"{path}: sha256 mismatch (manifest {self.manifest.sha256[:12]}…, file {actual[:12]}…); "
                "the file was changed after export, refusing to unpickle it even with trust"
            )
        try:
            import io

            import joblib
        except ImportError:
            raise BackendUnavailableError("loading joblib artifacts", "joblib", "tabular") from None
        try:
            self.estimator = joblib.load(io.BytesIO(data))
        except ImportError as exc:
            raise BackendUnavailableError("loading joblib artifacts", exc.name or "scikit-learn", "tabular") from None
        except Exception as exc:  # noqa: BLE001 - unpickling raises anything
            raise ArtifactError(f"{path}: cannot load the joblib file ({type(exc).__name__}: {exc})") from None
        self._check_estimator()

    def _check_estimator(self) -> None:
        est = self.estimator
        if not hasattr(est, "predict") or (self.is_classifier and not hasattr(est, "predict_proba")):
            kind = "classifier with predict_proba" if self.is_classifier else "regressor"
            raise ArtifactError(f"{self.artifact.path}: {type(est).__name__} is not a scikit-learn {kind}")
        n_in = getattr(est, "n_features_in_", None)
        if n_in is not None and n_in != self.features.count:
            raise ArtifactError(f"{self.artifact.path}: estimator takes {n_in} features, manifest lists "
                                f"{self.features.count}")  # fmt: skip

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import warnings

        with warnings.catch_warnings():  # fitted with named columns, given an array: same order, so no warning
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            values = np.asarray(self.estimator.predict(x)).reshape(-1)
            probs = np.asarray(self.estimator.predict_proba(x)) if self.is_classifier else None
        return values, probs

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: ``predict_proba`` (classifier) or ``predict`` (regressor) on validated rows."""
        import warnings

        x = np.asarray(batch, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if self.is_classifier:
                return np.asarray(self.estimator.predict_proba(x))
            return np.asarray(self.estimator.predict(x), dtype=np.float64).reshape(-1)

    def close(self) -> None:
        self.estimator = None
