"""The manifest: the one contract between the build side and the device side, as typed sections.

    Manifest
    ├── model         ModelInfo      name, source, weights, number of classes
    ├── input         InputSpec      tensor name, shape, dtype, layout
    ├── output        OutputSpec     what the outputs hold (logits / probabilities / values) and their names
    ├── preprocess    PreprocessSpec image models: resize, crop, mean, std, channel order, layout
    ├── image_input   ImageInputSpec image models: what the runtime hands the file (float32 tensor / uint8 pixels)
    ├── features      FeatureSpec    tabular models: feature names and range rules (and ``classes``)
    ├── runtime       RuntimeHints   what the runtime must set: ONNX Runtime session config, torch quantized engine
    ├── provenance    Provenance     exporter, date, library versions, target, format-specific facts ("export")
    └── verification  Verification   status (``Status``), the comparison with the reference, details

Schema 3 (this version) adds ``image_input``: an artifact may take uint8 pixels and preprocess inside its graph; an
edge-infer that predates it refuses the manifest (it would feed floats) instead of failing inside the model. Schema 2
wrote ``runtime`` as its own section. Schema-1 and schema-2 manifests still load, as float-tensor artifacts; schema 1
(edge-infer 0.1.0) runtime hints are read from where 0.1.0 wrote them inside ``export``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from edge_infer.errors import ArtifactError, SpecError
from edge_infer.features import FeatureSpec
from edge_infer.formats import get_format
from edge_infer.spec import ImageInputSpec, InputSpec, PreprocessSpec

SCHEMA_VERSION = 3
READABLE_SCHEMAS = (1, 2, 3)
MANIFEST_SUFFIX = ".json"
OutputKind = Literal["logits", "probabilities", "value"]
OUTPUT_KINDS = ("logits", "probabilities", "value")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_path_for(model_path: str | os.PathLike[str]) -> Path:
    """The manifest of ``model.onnx`` is ``model.onnx.json``, beside it."""
    p = Path(model_path)
    return p.with_name(p.name + MANIFEST_SUFFIX)


class Status(str, Enum):
    """What is known of an artifact's faithfulness: the one set of status words (export, bundles, doctor, bench)."""

    VERIFIED = "verified"  # exported and agrees with its reference within tolerance
    FAILED = "failed"  # exported, but disagrees with its reference (or the check itself failed)
    SKIPPED = "skipped"  # exported, not verified (--no-verify, or nothing to verify on)
    ERROR = "error"  # the export itself failed: there is no artifact
    NOT_RECORDED = "not recorded"  # a manifest without a verification section

    @classmethod
    def parse(cls, value: Any) -> Status:
        if isinstance(value, Status):
            return value
        if value in (None, "", "unknown"):
            return cls.NOT_RECORDED
        try:
            return cls(str(value))
        except ValueError as exc:
            raise SpecError(f"unknown verification status {value!r} (valid: {', '.join(s.value for s in cls)})") \
                from exc  # fmt: skip

    @property
    def usable(self) -> bool:
        """An artifact exists and nothing says it is wrong (verified, or not verified on request)."""
        return self in (Status.VERIFIED, Status.SKIPPED)

    @property
    def symbol(self) -> str:
        return {"verified": "✅", "failed": "❎", "error": "❌", "skipped": "➖", "not recorded": "?"}[self.value]

    def __str__(self) -> str:
        return self.value


def _mapping(d: Any, section: str) -> dict[str, Any]:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise SpecError(f"{section} must be an object, got {type(d).__name__}")
    return dict(d)


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Where the model came from: its registered name, source code or estimator, weights, number of classes."""

    name: str = ""
    source: str = ""
    weights: str = ""
    num_classes: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. a tabular model's dataset and test accuracy

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "source": self.source}
        if self.weights:
            d["weights"] = self.weights
        if self.num_classes is not None:
            d["num_classes"] = self.num_classes
        return {**d, **self.details}

    @classmethod
    def from_dict(cls, d: Any) -> ModelInfo:
        d = _mapping(d, "model")
        n = d.pop("num_classes", None)
        return cls(name=str(d.pop("name", "")), source=str(d.pop("source", "")), weights=str(d.pop("weights", "")),
                   num_classes=None if n is None else int(n), details=d)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """The model's outputs. ``kind``: raw ``logits`` (softmax gives probabilities), ``probabilities``, or a regressor's
    ``value``. Tabular ONNX models name their outputs: ``label`` (predicted class), ``probabilities``, ``value``."""

    kind: OutputKind = "logits"
    name: str | None = "output"
    label: str | None = None
    probabilities: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise SpecError(f"output kind must be one of {', '.join(OUTPUT_KINDS)}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        for key in ("name", "label", "probabilities", "value"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> OutputSpec:
        d = _mapping(d, "output")
        kind = d.get("kind", "logits")
        if d.get("methods") is not None or "name" not in d:  # tabular (joblib: {"methods": [...]}), no tensor name
            name = d.get("name")
        else:
            name = str(d["name"])
        return cls(kind=kind, name=name, label=d.get("label"), probabilities=d.get("probabilities"),
                   value=d.get("value"))  # fmt: skip


# Where edge-infer 0.1.0 recorded the torch quantized engine in "export".
_V1_QENGINE_KEYS = ("quantized_engine", "torch_qengine", "qengine")


@dataclass(frozen=True, kw_only=True)
class RuntimeHints:
    """Settings the runtime must apply for the artifact to compute what was verified.

    ``onnxruntime_session_config``: ONNX Runtime session config entries (e.g. ``session.x64quantprecision``).
    ``torch_qengine``: the torch quantized engine an int8 TorchScript artifact was built for (x86, qnnpack, ...).
    """

    onnxruntime_session_config: Mapping[str, str] = field(default_factory=dict)
    torch_qengine: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.onnxruntime_session_config:
            d["onnxruntime_session_config"] = dict(self.onnxruntime_session_config)
        if self.torch_qengine:
            d["torch_qengine"] = self.torch_qengine
        return d

    @classmethod
    def from_dict(cls, d: Any) -> RuntimeHints:
        d = _mapping(d, "runtime")
        config = _mapping(d.get("onnxruntime_session_config"), "runtime.onnxruntime_session_config")
        engine = d.get("torch_qengine")
        return cls(onnxruntime_session_config={str(k): str(v) for k, v in config.items()},
                   torch_qengine=str(engine) if engine else None)  # fmt: skip

    @classmethod
    def from_v1_export(cls, export: Mapping[str, Any]) -> RuntimeHints:
        """The hints as edge-infer 0.1.0 wrote them, inside the ``export`` section."""
        quant = export.get("quantization")
        engine = quant.get("engine") if isinstance(quant, Mapping) else None
        engine = engine or next((export[k] for k in _V1_QENGINE_KEYS if export.get(k)), None)
        return cls.from_dict({"onnxruntime_session_config": export.get("onnxruntime_session_config"),
                              "torch_qengine": engine})  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Who made the artifact, when, with which library versions, for which target (the manifest's ``export``).

    ``details`` holds the format-specific facts an exporter records (opset, quantization settings, op types, speed
    check); the runtime never reads them.
    """

    exporter: str = "edge-infer"
    created: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"exporter": self.exporter, "created": self.created, "versions": dict(self.versions),
                "target": self.target, **self.details}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any) -> Provenance:
        d = _mapping(d, "export")
        versions = _mapping(d.pop("versions", None), "export.versions")
        target = d.pop("target", None)
        for key in ("onnxruntime_session_config", *_V1_QENGINE_KEYS):  # 0.1.0 runtime hints: now in "runtime"
            d.pop(key, None)
        return cls(exporter=str(d.pop("exporter", "edge-infer")), created=str(d.pop("created", "")),
                   versions={str(k): str(v) for k, v in versions.items()},
                   target=None if target is None else str(target), details=d)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Verification:
    """How the artifact compared with its reference (eager PyTorch, or scikit-learn) when it was exported.

    ``count`` inputs (``unit``: images or rows) were compared; ``disagreements`` names those whose top-1 differs.
    ``details`` keeps everything else the check recorded (tolerance, ties, labelled accuracy, speed check, reason).
    """

    status: Status = Status.NOT_RECORDED
    reference: str = ""
    count: int = 0
    unit: Literal["images", "rows"] = "images"
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    top1_agreement: float | None = None
    disagreements: tuple[str, ...] = ()
    error: str | None = None
    note: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def with_details(self, **details: Any) -> Verification:
        return replace(self, details={**self.details, **details})

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status.value}
        if self.reference:
            d["reference"] = self.reference
        if self.count:
            d[self.unit] = self.count
        for key in ("max_abs_diff", "mean_abs_diff", "top1_agreement"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.count or self.disagreements:
            d["disagreements"] = list(self.disagreements)
        for key in ("error", "note"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return {**d, **self.details}

    @classmethod
    def from_dict(cls, d: Any) -> Verification:
        d = _mapping(d, "verification")
        unit: Literal["images", "rows"] = "rows" if "rows" in d else "images"
        count = d.pop(unit, 0)
        # 0.1.0 wrote top1_disagreements (images) or disagreeing_rows (rows, as numbers)
        names = d.pop("disagreements", None) or d.pop("top1_disagreements", None) or d.pop("disagreeing_rows", None)
        d.pop("top1_disagreements", None), d.pop("disagreeing_rows", None)

        def num(key: str) -> float | None:
            v = d.pop(key, None)
            return None if v is None else float(v)

        return cls(
            status=Status.parse(d.pop("status", None)), reference=str(d.pop("reference", "")), count=int(count or 0),
            unit=unit, max_abs_diff=num("max_abs_diff"), mean_abs_diff=num("mean_abs_diff"),
            top1_agreement=num("top1_agreement"), disagreements=tuple(str(n) for n in names or ()),
            error=d.pop("error", None), note=d.pop("note", None), details=d,
        )  # fmt: skip


_KNOWN = {
    "schema_version", "format", "task", "model_file", "sha256", "size_bytes", "model", "input", "output",
    "preprocess", "image_input", "labels", "features", "classes", "runtime", "export", "verification",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything the runtime needs to feed a model file correctly, and where it came from."""

    format: str
    model_file: str
    sha256: str = ""
    size_bytes: int = 0
    task: str = "image-classification"
    model: ModelInfo = field(default_factory=ModelInfo)
    input: InputSpec | None = None
    output: OutputSpec = field(default_factory=OutputSpec)
    preprocess: PreprocessSpec | None = None
    image_input: ImageInputSpec | None = None  # image models: None -> the float tensor ``preprocess`` makes
    labels: tuple[str, ...] = ()
    features: FeatureSpec | None = None
    classes: tuple[Any, ...] | None = None  # a tabular classifier's raw class values, in label order
    runtime: RuntimeHints = field(default_factory=RuntimeHints)
    provenance: Provenance = field(default_factory=Provenance)
    verification: Verification = field(default_factory=Verification)
    extra: Mapping[str, Any] = field(default_factory=dict)  # top-level sections this version does not know
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.image_input is None and self.preprocess is not None:
            object.__setattr__(self, "image_input", ImageInputSpec.tensor(self.preprocess))
        elif self.image_input is not None and self.preprocess is None:
            raise SpecError("image_input needs a preprocess section (the resize and crop of the pixels)")

    @property
    def name(self) -> str:
        """The model's name, or the model file's stem."""
        return self.model.name or Path(self.model_file).stem

    @property
    def status(self) -> Status:
        return self.verification.status

    def with_updates(self, **changes: Any) -> Manifest:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "format": self.format,
            "task": self.task,
            "model_file": self.model_file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "model": self.model.to_dict(),
            "input": self.input.to_dict() if self.input else None,
            "output": self.output.to_dict(),
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }
        if self.image_input is not None:
            d["image_input"] = self.image_input.to_dict()
        d |= {
            "labels": list(self.labels),
        }
        if self.features is not None:
            d["features"] = self.features.to_dict()
        if self.classes is not None:
            d["classes"] = list(self.classes)
        d["runtime"] = self.runtime.to_dict()
        d["export"] = self.provenance.to_dict()
        d["verification"] = self.verification.to_dict()
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "manifest") -> Manifest:
        if not isinstance(d, dict):
            raise ArtifactError(f"{where}: manifest must be a JSON object")
        missing = [k for k in ("format", "model_file") if k not in d]
        if missing:
            raise ArtifactError(f"{where}: manifest lacks {', '.join(missing)}")
        version = d.get("schema_version", 1)
        if not isinstance(version, int) or version not in READABLE_SCHEMAS:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            raise ArtifactError(
                f"{where}: manifest schema_version {version!r} is "
                + (f"newer than this edge-infer understands ({SCHEMA_VERSION}); upgrade edge-infer" if newer else
                   f"not one this edge-infer reads ({', '.join(map(str, READABLE_SCHEMAS))})")  # fmt: skip
            )
        try:
            get_format(str(d["format"]))
            export = _mapping(d.get("export"), "export")
            runtime = RuntimeHints.from_v1_export(export) if version == 1 else RuntimeHints.from_dict(d.get("runtime"))
            classes = d.get("classes")
            return cls(
                schema_version=version,
                format=str(d["format"]),
                task=str(d.get("task", "image-classification")),
                model_file=str(d["model_file"]),
                sha256=str(d.get("sha256", "")),
                size_bytes=int(d.get("size_bytes", 0)),
                model=ModelInfo.from_dict(d.get("model")),
                input=InputSpec.from_dict(d["input"]) if d.get("input") else None,
                output=OutputSpec.from_dict(d.get("output")),
                preprocess=PreprocessSpec.from_dict(d["preprocess"]) if d.get("preprocess") else None,
                image_input=ImageInputSpec.from_dict(d["image_input"]) if d.get("image_input") else None,
                labels=tuple(str(x) for x in d.get("labels") or ()),
                features=FeatureSpec.from_dict(d["features"], where=where) if d.get("features") else None,
                classes=None if classes is None else tuple(classes),
                runtime=runtime,
                provenance=Provenance.from_dict(export),
                verification=Verification.from_dict(d.get("verification")),
                extra={k: v for k, v in d.items() if k not in _KNOWN},
            )
        except ArtifactError:
            raise
        except SpecError as exc:
            raise ArtifactError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: invalid manifest field: {exc}") from exc

    def write(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, p)
        return p

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ArtifactError(f"{p}: manifest not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{p}: cannot read manifest ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{p}: manifest is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        return cls.from_dict(data, where=str(p))
