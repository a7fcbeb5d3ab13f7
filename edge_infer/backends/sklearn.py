"""scikit-learn backend: a joblib-saved estimator, loaded only with trust and a matching sha256 (pickle runs code)."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import ClassVar

import numpy as np

from edge_infer.errors import ArtifactError
from edge_infer.predictors import TabularPredictor


class SklearnTabular(TabularPredictor):
    """A joblib-saved scikit-learn classifier or regressor; loads only with trust=True (pickle runs code)."""

    backend: ClassVar[str] = "sklearn"
    needs_trust: ClassVar[bool] = True

    def _load(self) -> None:
        path = self.path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"{path}: cannot read ({exc.strerror})") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != self.manifest.sha256:  # checked on the very bytes that get unpickled
            raise ArtifactError(
                f"{path}: sha256 mismatch (manifest {self.manifest.sha256[:12]}…, file {actual[:12]}…); "
                "the file was changed after export, refusing to unpickle it even with trust"
            )
        from edge_infer.backends import get_backend

        try:
            import joblib
        except ImportError as exc:
            raise get_backend(self.backend).unavailable("loading joblib artifacts") from exc
        try:
            self.estimator = joblib.load(io.BytesIO(data))
        except ImportError as exc:
            raise get_backend(self.backend).unavailable("loading joblib artifacts") from exc
        except Exception as exc:  # noqa: BLE001 - unpickling raises anything
            raise ArtifactError(f"{path}: cannot load the joblib file ({type(exc).__name__}: {exc})") from exc
        self._check_estimator()

    def _check_estimator(self) -> None:
        est = self.estimator
        if not hasattr(est, "predict") or (self.is_classifier and not hasattr(est, "predict_proba")):
            kind = "classifier with predict_proba" if self.is_classifier else "regressor"
            raise ArtifactError(f"{self.path}: {type(est).__name__} is not a scikit-learn {kind}")
        n_in = getattr(est, "n_features_in_", None)  # scikit-learn's optional fitted attribute
        if n_in is not None and n_in != self.features.count:
            raise ArtifactError(f"{self.path}: estimator takes {n_in} features, manifest lists "
                                f"{self.features.count}")  # fmt: skip

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        with warnings.catch_warnings():  # fitted with named columns, given an array: same order, so no warning
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            values = np.asarray(self.estimator.predict(x)).reshape(-1)
            probs = np.asarray(self.estimator.predict_proba(x)) if self.is_classifier else None
        return values, probs

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: ``predict_proba`` (classifier) or ``predict`` (regressor) on validated rows."""
        x = np.asarray(batch, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if self.is_classifier:
                return np.asarray(self.estimator.predict_proba(x))
            return np.asarray(self.estimator.predict(x), dtype=np.float64).reshape(-1)

    def close(self) -> None:
        self.estimator = None
