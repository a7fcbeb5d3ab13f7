"""Tabular models: a fitted scikit-learn estimator or pipeline -> ``joblib`` and ONNX (skl2onnx) artifacts, verified.

The built-in ``iris`` model is the seed chapter's: RandomForestClassifier(n_estimators=100, random_state=42) fitted
on ``train_test_split(X, y, test_size=0.2, random_state=42)`` of scikit-learn's iris data. A user's own estimator
goes through the API::

    ei.export(clf, formats="onnx,joblib", out="out/mine", name="mine", X=X_train,
              feature_names=[...], class_names=[...], rules={"age": {"min": 0}})

Verification reloads each artifact with the device runtime (``edge_infer.load``) and compares its predictions and
probabilities with scikit-learn's on the given data (the training data by default).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_infer.errors import ExportError, SpecError, first_line
from edge_infer.features import FeatureSpec
from edge_infer.manifest import ModelInfo, OutputSpec
from edge_infer.registry import Registry
from edge_infer.spec import InputSpec
from edge_infer.tasks import TABULAR_CLASSIFICATION, TABULAR_REGRESSION
from exporters.context import ExportContext, ExportedFile
from exporters.registry import Tolerance, register_exporter

OPSET = 18


@dataclass(frozen=True, kw_only=True)
class TabularSpec:
    """A fitted estimator and its facts: feature names, class names, range rules, and data to verify on."""

    name: str
    estimator: Any
    X: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    rules: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)  # extra facts for the manifest's "model" section
    data_note: str = "the data given to export (X)"

    @property
    def task(self) -> str:
        return TABULAR_CLASSIFICATION if hasattr(self.estimator, "predict_proba") else TABULAR_REGRESSION

    @property
    def labels(self) -> tuple[str, ...]:
        return self.class_names

    @property
    def classes(self) -> list[Any]:
        return [c.item() if isinstance(c, np.generic) else c for c in getattr(self.estimator, "classes_", [])]

    @property
    def features(self) -> FeatureSpec:
        return FeatureSpec(names=self.feature_names, rules={k: dict(v) for k, v in self.rules.items()})

    def manifest_fields(self) -> dict[str, Any]:
        """The manifest sections that come from the model (exporters set the input dtype and output names)."""
        est = self.estimator
        classifier = self.task == TABULAR_CLASSIFICATION
        return {
            "task": self.task,
            "model": ModelInfo(name=self.name, source=f"{type(est).__module__}.{type(est).__qualname__}",
                               num_classes=len(self.class_names),
                               details={"estimator": _short_repr(est), **self.info}),
            "input": InputSpec(name="input", shape=(None, len(self.feature_names)), dtype="float64", layout="NC"),
            "output": OutputSpec(kind="probabilities" if classifier else "value", name=None),
            "labels": self.class_names,
            "features": self.features,
            "classes": tuple(self.classes) if classifier else None,
        }  # fmt: skip


# -- built-in models -----------------------------------------------------------------------------------------------
TABULAR_MODELS: Registry[str, Callable[[], TabularSpec]] = Registry("tabular model")


@TABULAR_MODELS.decorator("iris")
def iris() -> TabularSpec:
    """The seed chapter's model: RandomForest (100 trees, seed 42) on an 80/20 split (seed 42) of iris."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    data = load_iris()
    X, y = data.data, data.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    clf = RandomForestClassifier(n_estimators=100, random_state=42).fit(X_train, y_train)
    names = tuple(str(n) for n in data.feature_names)
    return TabularSpec(
        name="iris",
        estimator=clf,
        X=X,
        feature_names=names,
        class_names=tuple(str(n) for n in data.target_names),
        rules={n: {"min": 0} for n in names},  # lengths and widths in cm cannot be negative
        info={
            "dataset": "iris (sklearn.datasets.load_iris, 150 rows)",
            "split": "train_test_split(X, y, test_size=0.2, random_state=42)",
            "train_rows": len(X_train),
            "test_rows": len(X_test),
            "test_accuracy": float(clf.score(X_test, y_test)),
        },
        data_note="all 150 iris rows (the 120 training rows and the 30 held-out rows)",
    )


def is_tabular_model(model: Any) -> bool:
    """A built-in tabular name, a TabularSpec, or a scikit-learn-style estimator (fit/predict/get_params)."""
    if isinstance(model, str):
        return model in TABULAR_MODELS
    if isinstance(model, TabularSpec):
        return True
    return all(hasattr(model, a) for a in ("fit", "predict", "get_params"))


def tabular_spec(
    model: Any,
    *,
    X: Any = None,
    name: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    rules: Mapping[str, Mapping[str, float]] | None = None,
) -> TabularSpec:
    """Resolve a built-in name, a TabularSpec, or a fitted estimator (needs ``X``, e.g. the training data).
    ``labels`` is another name for ``class_names`` (as image models call them)."""
    class_names = class_names if class_names is not None else labels
    if isinstance(model, TabularSpec):
        return model
    if isinstance(model, str):
        return TABULAR_MODELS[model]()
    if X is None:
        raise SpecError("exporting a scikit-learn estimator needs X= (e.g. its training data) to verify against")
    x = _as_matrix(X)
    names = tuple(str(n) for n in (feature_names if feature_names is not None else _feature_names(model, x)))
    if len(names) != x.shape[1]:
        raise SpecError(f"{len(names)} feature names given for {x.shape[1]} columns of X")
    classes = list(getattr(model, "classes_", []))
    labels = tuple(str(c) for c in (class_names if class_names is not None else classes))
    if hasattr(model, "predict_proba") and len(labels) != len(classes):
        raise SpecError(f"{len(labels)} class names given for {len(classes)} classes ({classes})")
    return TabularSpec(
        name=name or type(model).__name__.lower(), estimator=model, X=x, feature_names=names,
        class_names=labels, rules=dict(rules or {}),
    )  # fmt: skip


def _as_matrix(X: Any) -> np.ndarray:
    try:
        x = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"X must be numeric (rows x features): {exc}") from exc
    if x.ndim != 2 or x.shape[0] == 0:
        raise SpecError(f"X must be a non-empty 2-D array (rows x features), got shape {x.shape}")
    return x


def _feature_names(model: Any, x: np.ndarray) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(x.shape[1])]


# -- formats ------------------------------------------------------------------------------------------------------
TABULAR_TOLERANCE = Tolerance(max_abs_diff=1e-4, min_top1_agreement=1.0)  # see exporters.verification.rows


def _tabular_spec(ctx: ExportContext) -> TabularSpec:
    if not isinstance(ctx.spec, TabularSpec):
        raise SpecError(f"{ctx.spec.name} is not a tabular model")
    return ctx.spec


@register_exporter("onnx", takes="features", tolerance=TABULAR_TOLERANCE)
def export_onnx(ctx: ExportContext) -> ExportedFile:
    """skl2onnx conversion (float32 input ``input``, zipmap off so probabilities are a plain tensor), checked."""
    import json

    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    spec = _tabular_spec(ctx)
    path = ctx.path_for(".onnx")
    classifier = spec.task == TABULAR_CLASSIFICATION
    options = {"zipmap": False} if classifier else None
    n = len(spec.feature_names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(spec.estimator, initial_types=[("input", FloatTensorType([None, n]))],
                          options=options, target_opset=OPSET)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types for unsupported estimators
        raise ExportError(f"skl2onnx cannot convert {type(spec.estimator).__name__}: {first_line(exc)}") from exc
    for key, value in (("edge_infer.features", spec.features.to_dict()), ("edge_infer.labels", list(spec.class_names))):
        onnx.helper.set_model_props(onx, {**{p.key: p.value for p in onx.metadata_props}, key: json.dumps(value)})
    try:
        onnx.checker.check_model(onx, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the converted model: {first_line(exc)}") from exc
    path.write_bytes(onx.SerializeToString())
    opsets = {o.domain or "ai.onnx": int(o.version) for o in onx.opset_import}
    outputs = [o.name for o in onx.graph.output]
    if classifier:
        output = OutputSpec(kind="probabilities", name=None, label="label", probabilities="probabilities")
    else:
        output = OutputSpec(kind="value", name=None, value=outputs[0])
    return ExportedFile(
        path=path,
        export_info={"converter": "skl2onnx", "opsets": opsets, "zipmap": False, "onnx_outputs": outputs},
        input=InputSpec(name="input", shape=(None, n), dtype="float32", layout="NC"),
        output=output,
    )


@register_exporter("joblib", takes="features", tolerance=TABULAR_TOLERANCE)
def export_joblib(ctx: ExportContext) -> ExportedFile:
    """The fitted estimator itself, ``joblib.dump``-ed (a pickle: loading it runs code, see the runtime's trust)."""
    import joblib

    spec = _tabular_spec(ctx)
    path = ctx.path_for(".joblib")
    joblib.dump(spec.estimator, path)
    return ExportedFile(path=path, export_info={"serializer": "joblib.dump", "pickle": True,
                                                "load_requires": "trust=True (CLI --trust) and sha256 match"})  # fmt: skip


def _short_repr(est: Any) -> str:
    text = " ".join(repr(est).split())
    return text if len(text) <= 300 else text[:297] + "..."
