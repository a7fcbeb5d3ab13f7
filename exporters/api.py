"""``export()``: model + formats -> verified artifacts with manifests. One format failing never stops the others."""

from __future__ import annotations

import datetime as _dt
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_infer.artifact import Artifact, write_artifact
from edge_infer.errors import EdgeInferError, ExportError, SpecError, first_line
from edge_infer.formats import get_format
from edge_infer.manifest import Manifest, manifest_path_for
from edge_infer.spec import ModelSpec, PreprocessSpec
from exporters.context import ExportContext
from exporters.models import DEFAULT_MODEL, get_model_spec, spec_from_module
from exporters.registry import get_exporter, parse_formats
from exporters.verify import verify
from exporters.versions import versions
from targets import Target, get_target

STATUS_SYMBOL = {"verified": "✅", "failed": "❎", "error": "❌", "skipped": "➖"}


@dataclass
class ExportOutcome:
    """What happened to one format: ``status`` is verified / failed (exported, failed verification) / error."""

    format: str
    status: str
    artifact: Artifact | None = None
    error: str | None = None
    verification: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "status": self.status}
        if self.artifact is not None:
            d.update(
                path=str(self.artifact.path),
                manifest=str(self.artifact.manifest_path),
                size_bytes=self.artifact.manifest.size_bytes,
                sha256=self.artifact.manifest.sha256,
            )
        d["verification"] = self.verification
        for key in ("max_abs_diff", "top1_agreement"):
            if key in self.verification:
                d[key] = self.verification[key]
        if self.error:
            d["error"] = self.error
        return d


def resolve_spec(
    model: str | ModelSpec | Any,
    *,
    weights: str | os.PathLike[str] | None = None,
    name: str | None = None,
    preprocess: PreprocessSpec | None = None,
    labels: Sequence[str] | None = None,
) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        return get_model_spec(model, weights=weights)
    return spec_from_module(
        model,
        name=name or type(model).__name__.lower(),
        preprocess=preprocess or PreprocessSpec(),
        labels=labels or (),
    )


def resolve_target(target: Target | str | None) -> Target | None:
    """A target profile by name or as given; anything else is refused rather than silently ignored."""
    if target is None or isinstance(target, Target):
        return target
    if isinstance(target, str):
        return get_target(target)
    raise SpecError(f"target must be a targets.Target or a profile name, got {type(target).__name__}")


def _default_verify_images(spec: ModelSpec) -> dict[str, Any]:
    from exporters.samples import verification_images

    return verification_images()


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def _base_manifest(spec: ModelSpec, fmt: str, exported: Any, ctx: ExportContext) -> Manifest:
    pre = spec.preprocess
    shape = exported.input_shape or pre.input_shape(None)
    export_info = {
        "exporter": "edge-infer",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "target": getattr(ctx.target, "name", None),
        **exported.export_info,
    }
    if exported.notes:
        export_info["notes"] = exported.notes
    from edge_infer.spec import InputSpec

    return Manifest(
        format=fmt,
        task=spec.task,
        model_file=exported.path.name,
        sha256="",
        size_bytes=0,
        model={"name": spec.name, "source": spec.source, "weights": spec.weights, "num_classes": len(spec.labels)},
        input=InputSpec(name="input", shape=tuple(shape), dtype="float32", layout=pre.layout),
        output={"name": "output", "kind": spec.output},
        preprocess=pre,
        labels=tuple(spec.labels),
        export=export_info,
        extra=exported.extra,
    )


def export_one(ctx: ExportContext, fmt: str) -> ExportOutcome:
    """Export, write the manifest, verify, and record the verification in the manifest."""
    try:
        exporter = get_exporter(fmt, ctx.spec.task)
        get_format(fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            exported = exporter.fn(ctx)
        artifact = write_artifact(exported.path, _base_manifest(ctx.spec, fmt, exported, ctx))
    except EdgeInferError as exc:
        return ExportOutcome(fmt, "error", error=str(exc))
    except Exception as exc:  # an exporter bug or a library failure: report it, keep going with other formats
        return ExportOutcome(fmt, "error", error=first_line(exc, with_type=True))
    if not ctx.options.get("verify", True):
        return ExportOutcome(fmt, "skipped", artifact, verification={"status": "skipped", "reason": "--no-verify"})
    try:
        report = verify(artifact, ctx, exporter.tolerance)
    except EdgeInferError as exc:
        report = {"status": "failed", "error": str(exc)}
    except Exception as exc:
        report = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    report = {**report, **exported.extra.get("verification_extra", {})}
    manifest = artifact.manifest.with_updates(verification=report)
    manifest.write(manifest_path_for(artifact.path))
    artifact = Artifact(path=artifact.path, manifest_path=artifact.manifest_path, manifest=manifest)
    return ExportOutcome(fmt, str(report["status"]), artifact, verification=report)


def export(
    model: str | ModelSpec | Any = DEFAULT_MODEL,
    formats: str | Sequence[str] = ("onnx",),
    out: str | os.PathLike[str] = "out",
    *,
    target: Target | str | None = None,
    weights: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    verify_images: dict[str, Any] | None = None,
    name: str | None = None,
    preprocess: PreprocessSpec | None = None,
    labels: Sequence[str] | None = None,
    verify: bool = True,
    **options: Any,
) -> list[ExportOutcome]:
    """Export ``model`` (a registered name, a ModelSpec, or an ``nn.Module``) to each of ``formats`` in ``out``.

    Every artifact is reloaded with the device runtime and compared with eager before it is called verified.
    A format that fails is reported in its outcome; the others are still exported.
    Tabular models (a built-in name such as ``"iris"``, or a fitted scikit-learn estimator with ``X=...``) go to
    ``exporters.tabular.export_tabular`` (formats ``onnx``, ``joblib``).
    """
    from exporters.tabular import export_tabular, is_tabular_model

    if is_tabular_model(model):
        if weights is not None or calibration is not None or preprocess is not None:
            raise SpecError("weights, calibration and preprocess do not apply to tabular (scikit-learn) models")
        return export_tabular(model, formats, out, name=name, labels=labels, verify=verify, **options)
    target = resolve_target(target)
    spec = resolve_spec(model, weights=weights, name=name, preprocess=preprocess, labels=labels)
    fmts = parse_formats(formats, spec.task)
    if not fmts:
        raise SpecError("no formats given")
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create output folder ({exc.strerror})") from None
    images = verify_images if verify_images is not None else _default_verify_images(spec)
    ctx = ExportContext(
        spec=spec,
        out_dir=out_dir,
        stem=_stem(name or spec.name),
        target=target,
        calibration=Path(calibration) if calibration else None,
        verify_images=images,
        options={"verify": verify, **options},
    )
    try:
        ctx.model  # build once; a model that cannot be built fails every format the same way
    except EdgeInferError:
        raise
    except Exception as exc:
        raise ExportError(f"cannot build model {spec.name!r}: {type(exc).__name__}: {exc}") from None
    return [export_one(ctx, fmt) for fmt in fmts]
