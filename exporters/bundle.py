"""``export --target NAME``: the profile's formats, built with its settings, in one folder to copy to the device.

The folder holds the artifacts with their manifests, ``bundle.json`` (the index, in the profile's order of
preference), the demo photos, the edge-infer wheel (runtime dependencies only) and a README for that device with the
exact install and run commands.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets import Target, engine_problem

from edge_infer.bundle import BundleIndex, BundleRecord
from edge_infer.errors import ExportError
from edge_infer.manifest import Status
from edge_infer.profiles import get_target
from exporters.api import ExportOutcome, export, require_usable
from exporters.bundle_readme import render_readme

SOURCE_PATHS = ("pyproject.toml", "README.md", "edge_infer", "exporters", "targets", "benchmarks")


@dataclass
class BundleResult:
    """What ``build_bundle`` made: the folder, one outcome per format, the index written to bundle.json."""

    path: Path
    target: Target
    outcomes: list[ExportOutcome]
    index: BundleIndex

    @property
    def recommended(self) -> str | None:
        return self.index.recommended


def build_bundle(
    model: Any = "efficientnet_lite0",
    target: str | Target = "rpi5",
    out: str | os.PathLike[str] | None = None,
    *,
    formats: str | Sequence[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    verify: bool = True,
    wheel: bool = True,
    samples: bool = True,
    **export_options: Any,
) -> BundleResult:
    """Export ``model`` to the target's formats (or ``formats``) into ``out`` and write the bundle index and README.

    One format failing never stops the others; it is listed in bundle.json and the README with its error.
    """
    t = get_target(target)
    model_name = model if isinstance(model, str) else str(export_options.get("name") or type(model).__name__.lower())
    folder = Path(out) if out is not None else Path("out") / f"{model_name}-{t.name}"
    fmts = list(formats.split(",") if isinstance(formats, str) else formats) if formats else list(t.formats)
    strict = bool(export_options.pop("strict", False))
    outcomes = export(model, formats=fmts, out=folder, target=t, weights=weights, calibration=calibration,
                      verify=verify, **export_options)  # fmt: skip
    result = write_bundle(folder, t, str(model_name), outcomes, wheel=wheel, samples=samples)
    if strict:
        require_usable(outcomes)
    return result


def write_bundle(folder: str | os.PathLike[str], target: str | Target, model: str, outcomes: list[ExportOutcome], *,
                 wheel: bool = True, samples: bool = True) -> BundleResult:  # fmt: skip
    """Turn exported artifacts already in ``folder`` into a bundle: samples, wheel, bundle.json, README.md."""
    t, folder = get_target(target), Path(folder)
    records = [_record(o, folder, t) for o in outcomes]
    sample_names = _copy_samples(folder) if samples else []
    wheel_file = _build_wheel(folder / "wheels") if wheel else None
    index = _index(t, model, records, wheel_file, sample_names, folder)
    index.write(folder)
    (folder / "README.md").write_text(render_readme(index, t, folder.resolve().name), encoding="utf-8")
    return BundleResult(folder, t, outcomes, index)


def _record(o: ExportOutcome, folder: Path, t: Target) -> BundleRecord:
    if o.artifact is None:
        return BundleRecord(format=o.format, status=o.status, error=o.error or "export failed")
    m, v = o.artifact.manifest, o.verification
    engine = m.runtime.torch_qengine
    file = o.artifact.path.relative_to(folder).as_posix()
    status, error = o.status, o.error or v.error
    problem = engine_problem(engine, t.arch, where=file, target=t.name)
    if problem:  # the exporter ignored the target's engine: never recommend this artifact for the device
        status, error = Status.FAILED, problem
    return BundleRecord(
        format=o.format, status=status, file=file, manifest=o.artifact.manifest_path.relative_to(folder).as_posix(),
        sha256=m.sha256, size_bytes=m.size_bytes, max_abs_diff=v.max_abs_diff, top1_agreement=v.top1_agreement,
        images=v.count or None, quantized_engine=engine, error=error,
    )  # fmt: skip


def _index(t: Target, model: str, records: list[BundleRecord], wheel: Path | None, samples: list[str],
           folder: Path) -> BundleIndex:  # fmt: skip
    from edge_infer import __version__

    usable = [r for r in records if r.status.usable and r.file]
    recommended = usable[0].file if usable else None
    photos = "samples/" if samples else "photo.jpg"
    return BundleIndex(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        edge_infer_version=__version__,
        model=model,
        target=t.to_dict(),
        artifacts=tuple(records),
        recommended=recommended,
        samples=tuple(f"samples/{n}" for n in samples),
        wheel=wheel.relative_to(folder).as_posix() if wheel else None,
        install=_install_command(wheel, folder),
        run=f"edge-infer predict {recommended} {photos} --threads {t.threads} --top-k 3" if recommended else None,
    )


def _install_command(wheel: Path | None, folder: Path) -> str:
    if wheel is not None:
        return f"python3 -m pip install ./{wheel.relative_to(folder).as_posix()}"
    from edge_infer import __version__

    return f"python3 -m pip install PATH_TO/edge-infer-{__version__}  # its source tree or wheel; none in this bundle"


def _copy_samples(folder: Path) -> list[str]:
    from exporters.samples import write_samples

    return [p.name for p in write_samples(folder / "samples")]


def source_root() -> Path | None:
    """The source tree edge-infer runs from (None when installed from a wheel without one)."""
    import edge_infer

    root = Path(edge_infer.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "targets").is_dir() else None


def _build_wheel(dest: Path) -> Path | None:
    """``pip wheel --no-deps`` of edge-infer's source tree into ``dest``; None when there is no source tree."""
    root = source_root()
    if root is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("edge_infer-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="edge-infer-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in SOURCE_PATHS:  # a clean copy, so building never writes build/ or egg-info into the repo
            p = root / name
            if p.is_dir():
                shutil.copytree(p, src / name, ignore=ignore)
            elif p.is_file():
                shutil.copy2(p, src / name)
        # Build with the setuptools already here when there is one (no download); else pip's isolated build env.
        isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "--wheel-dir", str(dest),
               str(src)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("edge_infer-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel produced"]
        raise ExportError(f"building the edge-infer wheel for the bundle failed: {tail[0]}")
    return wheels[-1]
