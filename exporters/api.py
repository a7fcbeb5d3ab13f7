"""``export()``: model + formats -> verified artifacts with manifests. One format failing never stops the others.

One pipeline for every kind of model: an image classifier (a registered name, a torchvision name, a ``ModelSpec``
or an ``nn.Module``) and a tabular model (``"iris"``, a ``TabularSpec`` or a fitted scikit-learn estimator with
``X=...``) both go through ``export_one``: the format's exporter writes the file, the manifest is written beside it,
the artifact is reloaded with the device runtime and verified against its reference.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from targets import Target

from edge_infer.artifact import Artifact, write_artifact
from edge_infer.errors import EdgeInferError, ExportError, SpecError, VerificationError, first_line
from edge_infer.formats import get_format
from edge_infer.machine import library_versions
from edge_infer.manifest import Manifest, Provenance, Status, Verification, manifest_path_for
from edge_infer.profiles import get_target
from edge_infer.spec import ModelSpec, PreprocessSpec
from exporters.context import ExportContext, ExportedFile
from exporters.models import DEFAULT_MODEL, get_model_spec, spec_from_module
from exporters.options import ExportOptions
from exporters.registry import get_exporter, parse_formats
from exporters.tabular import TabularSpec, is_tabular_model, tabular_spec
from exporters.verification import verify

# Library versions recorded in every manifest (those of the build side that matter to the artifact).
IMAGE_PACKAGES = ("edge-infer", "torch", "torchvision", "onnx", "onnxscript", "onnxruntime", "numpy",
                  "opencv-python-headless", "executorch", "torchao", "litert-torch", "ai-edge-litert")  # fmt: skip
TABULAR_PACKAGES = ("edge-infer", "scikit-learn", "skl2onnx", "joblib", "onnx", "onnxruntime", "numpy")


@dataclass
class ExportOutcome:
    """What happened to one format: ``status`` is verified, failed (exported, failed verification), skipped (not
    verified) or error (nothing exported; ``error`` says why)."""

    format: str
    status: Status
    artifact: Artifact | None = None
    error: str | None = None
    verification: Verification = field(default_factory=Verification)

    def __post_init__(self) -> None:
        self.status = Status.parse(self.status)  # a status word ("verified") is accepted too

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "status": self.status.value}
        if self.artifact is not None:
            d.update(
                path=str(self.artifact.path),
                manifest=str(self.artifact.manifest_path),
                size_bytes=self.artifact.manifest.size_bytes,
                sha256=self.artifact.manifest.sha256,
            )
        d["verification"] = self.verification.to_dict()
        if self.verification.max_abs_diff is not None:
            d["max_abs_diff"] = self.verification.max_abs_diff
        if self.verification.top1_agreement is not None:
            d["top1_agreement"] = self.verification.top1_agreement
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
    """An image model's spec from a registered name, a ModelSpec, or an ``nn.Module``."""
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
    return None if target is None else get_target(target)


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def _manifest(ctx: ExportContext, fmt: str, exported: ExportedFile) -> Manifest:
    fields = ctx.spec.manifest_fields()
    if exported.image_input is not None:
        fields["image_input"] = exported.image_input  # uint8 pixels: preprocess keeps the layout the graph makes
    if exported.input is not None:
        fields["input"] = exported.input
        layout = exported.input.layout
        pixels = exported.image_input is not None and exported.image_input.pixels
        if (fields.get("preprocess") is not None and not pixels and layout in ("NCHW", "NHWC")
                and layout != fields["preprocess"].layout):  # fmt: skip
            fields["preprocess"] = replace(fields["preprocess"], layout=layout)  # preprocessing feeds what the file takes
    if exported.output is not None:
        fields["output"] = exported.output
    packages = TABULAR_PACKAGES if isinstance(ctx.spec, TabularSpec) else IMAGE_PACKAGES
    details = {**exported.export_info, **({"notes": exported.notes} if exported.notes else {})}
    provenance = Provenance(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        versions=library_versions(packages),
        target=ctx.target.name if ctx.target else None,
        details=details,
    )
    return Manifest(format=fmt, model_file=exported.path.name, runtime=exported.runtime, provenance=provenance,
                    **fields)  # fmt: skip


def export_one(ctx: ExportContext, fmt: str) -> ExportOutcome:
    """Export, write the manifest, verify, and record the verification in the manifest."""
    try:
        exporter = get_exporter(fmt, ctx.spec.task)
        get_format(fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            exported = exporter.fn(ctx)
        artifact = write_artifact(exported.path, _manifest(ctx, fmt, exported))
    except EdgeInferError as exc:
        return ExportOutcome(fmt, Status.ERROR, error=str(exc))
    except Exception as exc:  # an exporter bug or a library failure: report it, keep going with other formats
        return ExportOutcome(fmt, Status.ERROR, error=first_line(exc, with_type=True))
    if not ctx.options.verify:
        report = Verification(status=Status.SKIPPED, details={"reason": "--no-verify"})
    else:
        report = verify(artifact, ctx, exporter.tolerance, extra=exported.verification)
    manifest = artifact.manifest.with_updates(verification=report)
    manifest.write(manifest_path_for(artifact.path))
    artifact = Artifact(path=artifact.path, manifest_path=artifact.manifest_path, manifest=manifest)
    return ExportOutcome(fmt, report.status, artifact, error=report.error, verification=report)


def _context(
    model: Any, out_dir: Path, *, target: Target | None, weights: str | os.PathLike[str] | None,
    calibration: str | os.PathLike[str] | None, verify_images: Mapping[str, Any] | None, name: str | None,
    preprocess: PreprocessSpec | None, labels: Sequence[str] | None, tabular: Mapping[str, Any],
    options: ExportOptions,
) -> ExportContext:  # fmt: skip
    """The spec of ``model`` (image or tabular) and everything its exporters share."""
    if is_tabular_model(model):
        if weights is not None or calibration is not None or preprocess is not None:
            raise SpecError("weights, calibration and preprocess do not apply to tabular (scikit-learn) models")
        spec: ModelSpec | TabularSpec = tabular_spec(model, name=name, labels=labels, **tabular)
        return ExportContext(spec=spec, out_dir=out_dir, stem=_stem(name or spec.name), target=target,
                             options=options)  # fmt: skip
    given = [k for k, v in tabular.items() if v is not None]
    if given:
        raise SpecError(f"{', '.join(given)}: for tabular (scikit-learn) models only")
    spec = resolve_spec(model, weights=weights, name=name, preprocess=preprocess, labels=labels)
    if verify_images is None:
        from exporters.samples import verification_images

        verify_images = verification_images()
    return ExportContext(
        spec=spec, out_dir=out_dir, stem=_stem(name or spec.name), target=target,
        calibration=Path(calibration) if calibration else None, verify_images=dict(verify_images), options=options,
    )  # fmt: skip


def export(
    model: str | ModelSpec | TabularSpec | Any = DEFAULT_MODEL,
    formats: str | Sequence[str] = ("onnx",),
    out: str | os.PathLike[str] = "out",
    *,
    target: Target | str | None = None,
    weights: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    verify_images: Mapping[str, Any] | None = None,
    name: str | None = None,
    preprocess: PreprocessSpec | None = None,
    labels: Sequence[str] | None = None,
    X: Any = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    rules: Mapping[str, Mapping[str, float]] | None = None,
    options: ExportOptions | None = None,
    **option_values: Any,
) -> list[ExportOutcome]:
    """Export ``model`` to each of ``formats`` (a comma list or ``"all"``) in ``out``.

    Image models: a registered or torchvision name, a ``ModelSpec``, or an ``nn.Module`` (with ``name``,
    ``preprocess``, ``labels``). Tabular models: ``"iris"``, a ``TabularSpec``, or a fitted scikit-learn estimator
    with ``X`` (data to verify on) and optionally ``feature_names``, ``class_names``, ``rules``.

    Tuning goes in ``options`` (an ``ExportOptions``) or as keywords (``verify=False``, ``calibration_count=64``,
    ``strict=True``); a misspelled option is an error naming the valid ones. Every artifact is reloaded with the
    device runtime and compared with its reference before it is called verified; a format that fails is reported
    in its outcome and the others are still exported. With ``strict=True`` any failure raises VerificationError
    (after every format ran; the outcomes travel with it).
    """
    opts = ExportOptions.build(options, **option_values)
    out_dir = Path(out)
    tabular = {"X": X, "feature_names": feature_names, "class_names": class_names, "rules": rules}
    ctx = _context(model, out_dir, target=resolve_target(target), weights=weights, calibration=calibration,
                   verify_images=verify_images, name=name, preprocess=preprocess, labels=labels, tabular=tabular,
                   options=opts)  # fmt: skip
    fmts = parse_formats(formats, ctx.spec.task)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create output folder ({exc.strerror})") from exc
    if isinstance(ctx.spec, ModelSpec):
        try:
            ctx.model  # noqa: B018 - build once; a model that cannot be built fails every format the same way
        except EdgeInferError:
            raise
        except Exception as exc:
            raise ExportError(f"cannot build model {ctx.spec.name!r}: {type(exc).__name__}: {exc}") from exc
    outcomes = [export_one(ctx, fmt) for fmt in fmts]
    if opts.strict:
        require_usable(outcomes)
    return outcomes


def require_usable(outcomes: Sequence[ExportOutcome]) -> None:
    """Raise VerificationError naming every format that failed verification or did not export."""
    failures = [f"{o.format}: {o.status.value}" + (f" ({o.error})" if o.error else "")
                for o in outcomes if not o.status.usable]  # fmt: skip
    if failures:
        raise VerificationError(f"{len(failures)} of {len(outcomes)} format(s) not usable: " + "; ".join(failures),
                                failures=failures, outcomes=outcomes)  # fmt: skip
