"""A bundle folder (``edge-infer export --target NAME``) read on the device: its index, artifacts and their checks.

A bundle holds the artifacts a target profile prefers (model files with their ``.json`` manifests), ``bundle.json``
(the index, in the profile's order of preference), a README for the device and the edge-infer wheel. Stdlib only.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_infer.errors import ArtifactError
from edge_infer.machine import normalize_arch
from edge_infer.manifest import MANIFEST_SUFFIX, Manifest, manifest_path_for

BUNDLE_INDEX = "bundle.json"
BUNDLE_KIND = "edge-infer-bundle"
BUNDLE_SCHEMA_VERSION = 1
# Where an exporter records the torch quantized engine in manifest["export"]: "quantization": {"engine": ...} (the
# TorchScript int8 exporter), or one of these top-level keys.
QENGINE_KEYS = ("quantized_engine", "torch_qengine", "qengine")


def quantized_engine(manifest: Manifest) -> str | None:
    """The torch quantized engine an int8 TorchScript artifact was built with (None for other formats)."""
    from targets.profiles import TORCH_QENGINE_ARCHES

    quant = manifest.export.get("quantization")
    candidates = [quant.get("engine") if isinstance(quant, dict) else None]
    candidates += [manifest.export.get(key) for key in QENGINE_KEYS]
    return next((str(v) for v in candidates if isinstance(v, str) and v in TORCH_QENGINE_ARCHES), None)


def engine_problem(
    manifest: Manifest, arch: str | None = None, *, where: str = "", target: str | None = None
) -> str | None:
    """Why this artifact cannot run on ``arch`` because of its quantized engine, with what to do (None: it can).

    ``where`` (a file name) prefixes the message; ``target`` is the profile to suggest re-exporting for.
    """
    from targets.profiles import NATIVE_QENGINES, TORCH_QENGINE_ARCHES, qengine_runs_on

    engine = quantized_engine(manifest)
    arch = normalize_arch(arch or platform.machine())
    if engine is None or qengine_runs_on(engine, arch):
        return None
    built_for = ", ".join(TORCH_QENGINE_ARCHES.get(engine, ("an unknown architecture",)))
    if target:
        command = f"`edge-infer export --target {target}`"
    else:
        command = "`edge-infer export --target rpi5` (or rpi4, mobile-arm64)" if arch == "aarch64" else \
            "`edge-infer export --target laptop-x86`"  # fmt: skip
    native = NATIVE_QENGINES.get(arch, ("?",))[0]
    return (
        f"{where + ': ' if where else ''}int8 model quantized for PyTorch's {engine!r} engine ({built_for} only), "
        f"which does not exist on this {arch} device; re-export it with {command}, which quantizes for {native!r}, "
        "or use a float or ONNX artifact"
    )


@dataclass(frozen=True)
class BundleEntry:
    """One artifact in a bundle, as listed by ``bundle.json`` and read from its manifest."""

    format: str
    model_path: Path
    manifest_path: Path
    manifest: Manifest
    status: str  # verification status recorded at export: verified / failed / skipped
    info: dict[str, Any] = field(default_factory=dict)  # the bundle.json record


@dataclass(frozen=True)
class Bundle:
    path: Path
    index: dict[str, Any]
    entries: tuple[BundleEntry, ...]

    @property
    def target(self) -> str | None:
        t = self.index.get("target")
        return str(t.get("name")) if isinstance(t, dict) else None


def _read_index(folder: Path) -> dict[str, Any]:
    p = folder / BUNDLE_INDEX
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}); rebuild the bundle") from None
    except OSError as exc:
        raise ArtifactError(f"{p}: cannot read ({exc.strerror})") from None
    if not isinstance(data, dict) or data.get("kind") != BUNDLE_KIND:
        raise ArtifactError(f"{p}: not an edge-infer bundle index")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > BUNDLE_SCHEMA_VERSION:
        raise ArtifactError(f"{p}: bundle schema_version {version!r} is newer than this edge-infer; upgrade it")
    return data


def _rebuild_hint(index: dict[str, Any]) -> str:
    target = (index.get("target") or {}).get("name")
    return f"`edge-infer export --target {target}`" if target else "`edge-infer export --target NAME`"


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle folder; a missing manifest or model file is an ArtifactError that says what to copy."""
    folder = Path(path)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder; give the bundle folder made by `edge-infer export --target NAME`")
    if not (folder / BUNDLE_INDEX).exists():
        return _read_loose_folder(folder)
    index = _read_index(folder)
    records = index.get("artifacts")
    if not isinstance(records, list):
        raise ArtifactError(f"{folder / BUNDLE_INDEX}: has no artifacts list; rebuild the bundle")
    entries, missing = [], []
    for rec in records:
        if not rec.get("file"):
            continue  # a format that failed to export: recorded with its error, no file
        model_path = folder / rec["file"]
        manifest_path = manifest_path_for(model_path)
        if not manifest_path.exists():
            missing.append(manifest_path.name)
            continue
        manifest = Manifest.read(manifest_path)
        status = str(manifest.verification.get("status", rec.get("status", "unknown")))
        entries.append(BundleEntry(manifest.format, model_path, manifest_path, manifest, status, rec))
    if missing:
        raise ArtifactError(
            f"{folder}: bundle was copied without its manifest(s) {', '.join(missing)}; copy the whole folder "
            f"(each model file with the .json beside it, e.g. `rsync -a` or `scp -r`), or rebuild it with "
            f"{_rebuild_hint(index)}"
        )
    return Bundle(folder, index, tuple(entries))


def _read_loose_folder(folder: Path) -> Bundle:
    """A folder of artifacts without bundle.json: use the manifests found; model files alone are an error."""
    from edge_infer.formats import format_names, get_format

    suffixes = sorted({get_format(n).suffix for n in format_names()}, key=len, reverse=True)
    models = [p for p in sorted(folder.iterdir()) if p.is_file() and any(p.name.endswith(s) for s in suffixes)]
    entries, orphans = [], []
    for model in models:
        mpath = manifest_path_for(model)
        if not mpath.exists():
            orphans.append(model.name)
            continue
        manifest = Manifest.read(mpath)
        entries.append(BundleEntry(manifest.format, model, mpath, manifest,
                                   str(manifest.verification.get("status", "unknown"))))  # fmt: skip
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
    return Bundle(folder, {"kind": BUNDLE_KIND, "schema_version": BUNDLE_SCHEMA_VERSION, "loose": True}, tuple(entries))
