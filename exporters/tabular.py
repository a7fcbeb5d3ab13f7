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

import datetime as _dt
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.artifact import Artifact, write_artifact
from edge_infer.backends.tabular import CLASSIFICATION, REGRESSION
from edge_infer.errors import EdgeInferError, ExportError, SpecError, UnknownNameError, first_line
from edge_infer.features import FeatureSpec
from edge_infer.manifest import Manifest, manifest_path_for
from edge_infer.spec import InputSpec
from exporters.api import ExportOutcome
from exporters.tabular_verify import verify_tabular
from exporters.versions import versions

OPSET = 18
TABULAR_PACKAGES = ("edge-infer", "scikit-learn", "skl2onnx", "joblib", "onnx", "onnxruntime", "numpy")


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
        return CLASSIFICATION if hasattr(self.estimator, "predict_proba") else REGRESSION

    @property
    def classes(self) -> list[Any]:
        return [c.item() if isinstance(c, np.generic) else c for c in getattr(self.estimator, "classes_", [])]

    @property
    def features(self) -> FeatureSpec:
        return FeatureSpec(names=self.feature_names, rules={k: dict(v) for k, v in self.rules.items()})


# -- built-in models -----------------------------------------------------------------------------------------------
TABULAR_MODELS: dict[str, Callable[[], TabularSpec]] = {}


def register_tabular_model(name: str) -> Callable[[Callable[[], TabularSpec]], Callable[[], TabularSpec]]:
    def deco(factory: Callable[[], TabularSpec]) -> Callable[[], TabularSpec]:
        if name in TABULAR_MODELS:
            raise ValueError(f"tabular model {name!r} is already registered")
        TABULAR_MODELS[name] = factory
        return factory

    return deco


@register_tabular_model("iris")
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
    rules: Mapping[str, Mapping[str, float]] | None = None,
) -> TabularSpec:
    """Resolve a built-in name, a TabularSpec, or a fitted estimator (needs ``X``, e.g. the training data)."""
    if isinstance(model, TabularSpec):
        return model
    if isinstance(model, str):
        if model not in TABULAR_MODELS:
            raise UnknownNameError("tabular model", model, TABULAR_MODELS)
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
        raise SpecError(f"X must be numeric (rows x features): {exc}") from None
    if x.ndim != 2 or x.shape[0] == 0:
        raise SpecError(f"X must be a non-empty 2-D array (rows x features), got shape {x.shape}")
    return x


def _feature_names(model: Any, x: np.ndarray) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(x.shape[1])]


# -- formats -------------------------------------------------------------------------------------------------------
def export_onnx(spec: TabularSpec, path: Path) -> dict[str, Any]:
    """skl2onnx conversion (float32 input ``input``, zipmap off so probabilities are a plain tensor), checked."""
    import json

    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options = {"zipmap": False} if spec.task == CLASSIFICATION else None
    n = len(spec.feature_names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(spec.estimator, initial_types=[("input", FloatTensorType([None, n]))],
                          options=options, target_opset=OPSET)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types for unsupported estimators
        raise ExportError(f"skl2onnx cannot convert {type(spec.estimator).__name__}: {first_line(exc)}") from None
    for key, value in (("edge_infer.features", spec.features.to_dict()), ("edge_infer.labels", list(spec.class_names))):
        onnx.helper.set_model_props(onx, {**{p.key: p.value for p in onx.metadata_props}, key: json.dumps(value)})
    try:
        onnx.checker.check_model(onx, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the converted model: {first_line(exc)}") from None
    path.write_bytes(onx.SerializeToString())
    opsets = {o.domain or "ai.onnx": int(o.version) for o in onx.opset_import}
    outputs = [o.name for o in onx.graph.output]
    return {"converter": "skl2onnx", "opsets": opsets, "zipmap": False, "onnx_outputs": outputs}


def export_joblib(spec: TabularSpec, path: Path) -> dict[str, Any]:
    """The fitted estimator itself, ``joblib.dump``-ed (a pickle: loading it runs code, see the runtime's trust)."""
    import joblib

    joblib.dump(spec.estimator, path)
    return {"serializer": "joblib.dump", "pickle": True, "load_requires": "trust=True (CLI --trust) and sha256 match"}


@dataclass(frozen=True, kw_only=True)
class TabularFormat:
    suffix: str
    fn: Callable[[TabularSpec, Path], dict[str, Any]]
    input_dtype: str


TABULAR_FORMATS: dict[str, TabularFormat] = {
    "onnx": TabularFormat(suffix=".onnx", fn=export_onnx, input_dtype="float32"),
    "joblib": TabularFormat(suffix=".joblib", fn=export_joblib, input_dtype="float64"),
}


def _manifest(spec: TabularSpec, fmt: str, path: Path, info: dict[str, Any]) -> Manifest:
    est = spec.estimator
    n = len(spec.feature_names)
    classifier = spec.task == CLASSIFICATION
    if fmt == "onnx":
        output: dict[str, Any] = {"label": "label", "probabilities": "probabilities"} if classifier else {
            "value": info["onnx_outputs"][0]}  # fmt: skip
    else:
        output = {"methods": ["predict", "predict_proba"] if classifier else ["predict"]}
    output["kind"] = "probabilities" if classifier else "value"
    export_info = {
        "exporter": "edge-infer",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(TABULAR_PACKAGES),
        **info,
    }
    extra: dict[str, Any] = {"features": spec.features.to_dict()}
    if classifier:
        extra["classes"] = spec.classes
    return Manifest(
        format=fmt,
        task=spec.task,
        model_file=path.name,
        sha256="",
        size_bytes=0,
        model={"name": spec.name, "source": f"{type(est).__module__}.{type(est).__qualname__}",
               "estimator": _short_repr(est), "num_classes": len(spec.class_names), **spec.info},  # fmt: skip
        input=InputSpec(name="input", shape=(None, n), dtype=TABULAR_FORMATS[fmt].input_dtype, layout="NC"),
        output=output,
        labels=spec.class_names,
        export=export_info,
        extra=extra,
    )


def _short_repr(est: Any) -> str:
    text = " ".join(repr(est).split())
    return text if len(text) <= 300 else text[:297] + "..."


# -- the export call -----------------------------------------------------------------------------------------------
def export_tabular(
    model: Any,
    formats: str | Sequence[str] = ("onnx", "joblib"),
    out: str | os.PathLike[str] = "out",
    *,
    name: str | None = None,
    verify: bool = True,
    X: Any = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    rules: Mapping[str, Mapping[str, float]] | None = None,
) -> list[ExportOutcome]:
    """Export a tabular model to each of ``formats`` (onnx, joblib, all); one failing never stops the rest."""
    spec = tabular_spec(model, X=X, name=name, feature_names=feature_names, class_names=class_names or labels,
                        rules=rules)  # fmt: skip
    spec.features  # noqa: B018 - validates names and rules before anything is written
    fmts = _parse_formats(formats)
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create output folder ({exc.strerror})") from None
    stem = name or spec.name
    return [_export_one(spec, fmt, out_dir / f"{stem}{TABULAR_FORMATS[fmt].suffix}", verify) for fmt in fmts]


def _parse_formats(formats: str | Sequence[str]) -> list[str]:
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names: list[str] = []
    for raw in (i.strip() for i in items):
        if raw == "all":
            names.extend(TABULAR_FORMATS)
        elif raw:
            if raw not in TABULAR_FORMATS:
                raise UnknownNameError("format for tabular models", raw, TABULAR_FORMATS)
            names.append(raw)
    if not names:
        raise SpecError("no formats given")
    return list(dict.fromkeys(names))


def _export_one(spec: TabularSpec, fmt: str, path: Path, verify: bool) -> ExportOutcome:
    try:
        info = TABULAR_FORMATS[fmt].fn(spec, path)
        artifact = write_artifact(path, _manifest(spec, fmt, path, info))
    except EdgeInferError as exc:
        return ExportOutcome(fmt, "error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a library failure: report it, keep going with other formats
        return ExportOutcome(fmt, "error", error=f"{type(exc).__name__}: {first_line(exc)}")
    if not verify:
        return ExportOutcome(fmt, "skipped", artifact, verification={"status": "skipped", "reason": "--no-verify"})
    try:
        report = verify_tabular(artifact, spec)
    except EdgeInferError as exc:
        report = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001
        report = {"status": "failed", "error": f"{type(exc).__name__}: {first_line(exc)}"}
    manifest = artifact.manifest.with_updates(verification=report)
    manifest.write(manifest_path_for(artifact.path))
    artifact = Artifact(path=artifact.path, manifest_path=artifact.manifest_path, manifest=manifest)
    return ExportOutcome(fmt, str(report["status"]), artifact, verification=report)
