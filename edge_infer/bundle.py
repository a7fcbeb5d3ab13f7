"""A bundle folder (``edge-infer export --target NAME``): its typed index, shared by the writer (``exporters.bundle``)
and the device-side reader here.

A bundle holds the artifacts a target profile prefers (model files with their ``.json`` manifests), ``bundle.json``
(the index, in the profile's order of preference), a README for the device and the edge-infer wheel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_infer.errors import ArtifactError, SpecError
from edge_infer.formats import model_suffixes
from edge_infer.manifest import MANIFEST_SUFFIX, Manifest, Status, manifest_path_for

BUNDLE_INDEX = "bundle.json"
BUNDLE_KIND = "edge-infer-bundle"
BUNDLE_SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class BundleRecord:
    """One format's line in ``bundle.json``: its file (None when the export failed), status and headline numbers."""

    format: str
    status: Status
    file: str | None = None
    manifest: str | None = None
    sha256: str = ""
    size_bytes: int = 0
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    images: int | None = None
    quantized_engine: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "status": self.status.value}
        for key in ("file", "manifest", "sha256", "size_bytes", "max_abs_diff", "top1_agreement", "images",
                    "quantized_engine", "error"):  # fmt: skip
            value = getattr(self, key)
            if value not in (None, "") and not (key == "size_bytes" and not self.file):
                d[key] = value
        return d

    @classmethod
    def from_dict(cls, d: Any) -> BundleRecord:
        if not isinstance(d, Mapping) or "format" not in d:
            raise SpecError(f"an artifacts entry must be an object with a format, got {d!r}")
        status = d.get("status")
        error = d.get("error")
        if status == "wrong-engine":  # 0.1.0 wrote this status for an int8 artifact of another CPU's engine
            status = Status.FAILED
        return cls(
            format=str(d["format"]), status=Status.parse(status), file=d.get("file"), manifest=d.get("manifest"),
            sha256=str(d.get("sha256", "")), size_bytes=int(d.get("size_bytes", 0)),
            max_abs_diff=d.get("max_abs_diff"), top1_agreement=d.get("top1_agreement"), images=d.get("images"),
            quantized_engine=d.get("quantized_engine"), error=error,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class BundleIndex:
    """``bundle.json``: what the bundle holds, for which target, which artifact to use, how to install and run."""

    model: str
    target: Mapping[str, Any] | None  # the profile (``Target.to_dict()``) the bundle was built for
    artifacts: tuple[BundleRecord, ...]
    recommended: str | None = None
    created: str = ""
    edge_infer_version: str = ""
    samples: tuple[str, ...] = ()
    wheel: str | None = None
    install: str = ""
    run: str | None = None
    loose: bool = False  # a folder of artifacts without bundle.json, read as a bundle
    schema_version: int = BUNDLE_SCHEMA_VERSION

    @property
    def target_name(self) -> str | None:
        name = (self.target or {}).get("name")
        return str(name) if name else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": BUNDLE_KIND, "schema_version": self.schema_version, "created": self.created,
            "edge_infer_version": self.edge_infer_version, "model": self.model,
            "target": dict(self.target) if self.target else None, "artifacts": [r.to_dict() for r in self.artifacts],
            "recommended": self.recommended, "samples": list(self.samples), "wheel": self.wheel,
            "install": self.install, "run": self.run,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any, *, where: str = BUNDLE_INDEX) -> BundleIndex:
        if not isinstance(d, Mapping) or d.get("kind") != BUNDLE_KIND:
            raise ArtifactError(f"{where}: not an edge-infer bundle index")
        version = d.get("schema_version")
        if not isinstance(version, int) or version > BUNDLE_SCHEMA_VERSION:
            raise ArtifactError(f"{where}: bundle schema_version {version!r} is newer than this edge-infer; upgrade it")
        records = d.get("artifacts")
        if not isinstance(records, list):
            raise ArtifactError(f"{where}: has no artifacts list; rebuild the bundle")
        try:
            return cls(
                model=str(d.get("model", "")), target=d.get("target") if isinstance(d.get("target"), Mapping) else None,
                artifacts=tuple(BundleRecord.from_dict(r) for r in records), recommended=d.get("recommended"),
                created=str(d.get("created", "")), edge_infer_version=str(d.get("edge_infer_version", "")),
                samples=tuple(d.get("samples") or ()), wheel=d.get("wheel"), install=str(d.get("install", "")),
                run=d.get("run"), schema_version=version,
            )  # fmt: skip
        except (SpecError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: {exc}; rebuild the bundle") from exc

    def write(self, folder: str | os.PathLike[str]) -> Path:
        p = Path(folder) / BUNDLE_INDEX
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> BundleIndex:
        p = Path(folder) / BUNDLE_INDEX
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}); rebuild the bundle") from exc
        except OSError as exc:
            raise ArtifactError(f"{p}: cannot read ({exc.strerror})") from exc
        return cls.from_dict(data, where=str(p))


@dataclass(frozen=True)
class BundleEntry:
    """One artifact in a bundle, as listed by ``bundle.json`` and read from its manifest."""

    model_path: Path
    manifest_path: Path
    manifest: Manifest
    record: BundleRecord | None = None

    @property
    def format(self) -> str:
        return self.manifest.format

    @property
    def status(self) -> Status:
        """The verification status recorded at export (the manifest's; the index's when the manifest has none)."""
        s = self.manifest.status
        return self.record.status if s is Status.NOT_RECORDED and self.record is not None else s

    @property
    def error(self) -> str | None:
        return self.manifest.verification.error or (self.record.error if self.record else None)


@dataclass(frozen=True)
class Bundle:
    path: Path
    index: BundleIndex
    entries: tuple[BundleEntry, ...] = field(default_factory=tuple)

    @property
    def target(self) -> str | None:
        return self.index.target_name


def _rebuild_hint(index: BundleIndex) -> str:
    name = index.target_name
    return f"`edge-infer export --target {name}`" if name else "`edge-infer export --target NAME`"


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle folder; a missing manifest or model file is an ArtifactError that says what to copy."""
    folder = Path(path)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder; give the bundle folder made by `edge-infer export --target NAME`")
    if not (folder / BUNDLE_INDEX).exists():
        return _read_loose_folder(folder)
    index = BundleIndex.read(folder)
    entries, missing = [], []
    for rec in index.artifacts:
        if not rec.file:
            continue  # a format that failed to export: recorded with its error, no file
        model_path = folder / rec.file
        manifest_path = manifest_path_for(model_path)
        if not manifest_path.exists():
            missing.append(manifest_path.name)
            continue
        entries.append(BundleEntry(model_path, manifest_path, Manifest.read(manifest_path), rec))
    if missing:
        raise ArtifactError(
            f"{folder}: bundle was copied without its manifest(s) {', '.join(missing)}; copy the whole folder "
            f"(each model file with the .json beside it, e.g. `rsync -a` or `scp -r`), or rebuild it with "
            f"{_rebuild_hint(index)}"
        )
    return Bundle(folder, index, tuple(entries))


def _read_loose_folder(folder: Path) -> Bundle:
    """A folder of artifacts without bundle.json: use the manifests found; model files alone are an error."""
    suffixes = model_suffixes()
    models = [p for p in sorted(folder.iterdir()) if p.is_file() and any(p.name.endswith(s) for s in suffixes)]
    entries, orphans = [], []
    for model in models:
        mpath = manifest_path_for(model)
        if not mpath.exists():
            orphans.append(model.name)
            continue
        entries.append(BundleEntry(model, mpath, Manifest.read(mpath)))
    if orphans:
        raise ArtifactError(
            f"{folder}: {', '.join(orphans)} copied without manifest(s) "
            f"({', '.join(o + MANIFEST_SUFFIX for o in orphans)}); copy the .json beside each model file, "
            "or rebuild the bundle with `edge-infer export --target NAME`"
        )
    if not entries:
        raise ArtifactError(
            f"{folder}: no {BUNDLE_INDEX} and no artifacts; give the folder made by `edge-infer export --target NAME`"
        )
    records = tuple(BundleRecord(format=e.format, status=e.status, file=e.model_path.name) for e in entries)
    return Bundle(folder, BundleIndex(model="", target=None, artifacts=records, loose=True), tuple(entries))
