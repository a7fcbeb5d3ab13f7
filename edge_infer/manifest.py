"""The manifest: the one contract between the build side and the device side."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_infer.errors import ArtifactError, SpecError
from edge_infer.formats import get_format
from edge_infer.spec import InputSpec, PreprocessSpec

SCHEMA_VERSION = 1
MANIFEST_SUFFIX = ".json"


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


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything the runtime needs to feed a model file correctly, and where it came from."""

    format: str
    model_file: str
    sha256: str
    size_bytes: int
    task: str = "image-classification"
    model: dict[str, Any] = field(default_factory=dict)
    input: InputSpec | None = None
    output: dict[str, Any] = field(default_factory=dict)
    preprocess: PreprocessSpec | None = None
    labels: tuple[str, ...] = ()
    export: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def with_updates(self, **changes: Any) -> Manifest:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": self.schema_version,
            "format": self.format,
            "task": self.task,
            "model_file": self.model_file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "model": self.model,
            "input": self.input.to_dict() if self.input else None,
            "output": self.output,
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
            "labels": list(self.labels),
            "export": self.export,
            "verification": self.verification,
        }
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "manifest") -> Manifest:
        if not isinstance(d, dict):
            raise ArtifactError(f"{where}: manifest must be a JSON object")
        known = {
            "schema_version", "format", "task", "model_file", "sha256", "size_bytes", "model", "input",
            "output", "preprocess", "labels", "export", "verification",
        }  # fmt: skip
        missing = [k for k in ("format", "model_file", "sha256") if k not in d]
        if missing:
            raise ArtifactError(f"{where}: manifest lacks {', '.join(missing)}")
        version = d.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ArtifactError(
                f"{where}: manifest schema_version {version!r} is newer than this edge-infer understands "
                f"({SCHEMA_VERSION}); upgrade edge-infer"
            )
        try:
            get_format(str(d["format"]))
            return cls(
                schema_version=version,
                format=str(d["format"]),
                task=str(d.get("task", "image-classification")),
                model_file=str(d["model_file"]),
                sha256=str(d["sha256"]),
                size_bytes=int(d.get("size_bytes", 0)),
                model=dict(d.get("model") or {}),
                input=InputSpec.from_dict(d["input"]) if d.get("input") else None,
                output=dict(d.get("output") or {}),
                preprocess=PreprocessSpec.from_dict(d["preprocess"]) if d.get("preprocess") else None,
                labels=tuple(str(x) for x in d.get("labels") or ()),
                export=dict(d.get("export") or {}),
                verification=dict(d.get("verification") or {}),
                extra={k: v for k, v in d.items() if k not in known},
            )
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
        except FileNotFoundError:
            raise ArtifactError(f"{p}: manifest not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{p}: cannot read manifest ({exc})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{p}: manifest is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data, where=str(p))
