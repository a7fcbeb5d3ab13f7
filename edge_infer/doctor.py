"""``edge-infer doctor``: what this device is, what can run here, which target fits, which bundle artifact to use.

Never imports torch or another backend library: versions come from package metadata, CPU facts from
``edge_infer.machine``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from targets import Target, engine_problem

from edge_infer.artifact import Artifact
from edge_infer.backends import BACKENDS, BackendInfo
from edge_infer.bundle import Bundle, BundleEntry, read_bundle
from edge_infer.errors import ArtifactError
from edge_infer.formats import get_format
from edge_infer.machine import MachineInfo, machine_info
from edge_infer.profiles import TARGETS

RUNTIME_PACKAGES = ("numpy", "opencv-python-headless", "pillow")
# machine.isa summary flag -> the Linux feature name targets use (for systems without /proc/cpuinfo, e.g. macOS)
_ISA_TO_FEATURE = {"neon": "asimd", "dotprod": "asimddp", "i8mm": "i8mm", "fp16": "asimdhp", "avx2": "avx2",
                   "fma": "fma", "avx": "avx", "f16c": "f16c", "sse4_2": "sse4_2", "avx512": "avx512f"}  # fmt: skip


@dataclass(frozen=True)
class BackendStatus:
    """A backend row as found on this device: the distribution providing it and its version (None: missing)."""

    info: BackendInfo
    package: str
    version: str | None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def extra(self) -> str | None:
        return self.info.extra

    @property
    def available(self) -> bool:
        return self.version is not None


@dataclass
class Recommendation:
    entry: BundleEntry | None
    threads: int
    reasons: list[str]
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, why not)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def backend_status() -> dict[str, BackendStatus]:
    """Every backend in the table: is its library installed (by package metadata, without importing it)."""
    return {name: BackendStatus(info, *info.distribution()) for name, info in BACKENDS.items()
            if name != "fake"}  # fmt: skip


def device_features(info: MachineInfo) -> set[str]:
    """CPU feature names as targets spell them (Linux names), from /proc/cpuinfo or the ISA summary."""
    return set(info.cpu_flags) | {_ISA_TO_FEATURE[k] for k, v in info.isa.items() if v and k in _ISA_TO_FEATURE}


def target_fits(info: MachineInfo) -> list[tuple[Target, list[str]]]:
    """Every profile with why it does not fit (empty: fits); fitting ones first, most specific first."""
    feats, system = device_features(info), info.os.lower()
    rows = [(t, t.missing_for(info.arch, feats, system)) for t in TARGETS.values()]
    return sorted(rows, key=lambda r: (bool(r[1]), -len(r[0].cpu_features)))


def best_target(info: MachineInfo) -> Target | None:
    fits = target_fits(info)
    return fits[0][0] if fits and not fits[0][1] else None


def _entry_problem(
    e: BundleEntry, info: MachineInfo, backends: dict[str, BackendStatus], target: str | None
) -> str | None:
    if not e.status.usable:
        why = e.error or ""
        return f"did not verify at export ({e.status}{': ' + str(why)[:120] if why else ''})"
    problem = engine_problem(e.manifest.runtime.torch_qengine, info.arch, target=target)
    if problem:
        return problem
    runnable = [backends[n] for n in get_format(e.format).backends if n in backends]
    if not any(b.available for b in runnable):
        if not runnable:
            return f"this edge-infer has no backend for {e.format}"
        b = runnable[0]
        return f"needs {b.package}, not installed here ({b.info.install_hint})"
    try:
        Artifact.read(e.model_path)
    except ArtifactError as exc:
        return str(exc)
    return None


def _preference(bundle: Bundle, device_target: Target | None) -> list[BundleEntry]:
    """The bundle's order, except that a device matching a known profile gets that profile's order first."""
    if device_target is None:
        return list(bundle.entries)
    rank = {f: i for i, f in enumerate(device_target.formats)}
    return sorted(bundle.entries, key=lambda e: rank.get(e.format, len(rank)))  # stable: bundle order breaks ties


def recommend(bundle: Bundle, info: MachineInfo, backends: dict[str, BackendStatus]) -> Recommendation:
    """The first artifact, in order of preference, that verified at export and can run on this device."""
    device_target = best_target(info)
    fix_target = device_target.name if device_target else bundle.target
    bundle_target = TARGETS.get(bundle.target) if bundle.target else None
    profile = device_target or bundle_target
    threads_want = profile.threads if profile else info.cores_usable
    threads = max(1, min(threads_want, info.cores_usable))
    ordered = _preference(bundle, device_target)
    problems = {e.model_path: _entry_problem(e, info, backends, fix_target) for e in ordered}
    rejected = [(e.model_path.name, p) for e in ordered if (p := problems[e.model_path])]
    for e in ordered:
        if problems[e.model_path] is None:
            return Recommendation(e, threads, _reason(e, device_target, bundle, backends, threads), rejected)
    return Recommendation(None, threads, ["no artifact in the bundle can run here"], rejected)


def _reason(e: BundleEntry, device_target: Target | None, bundle: Bundle, backends: dict[str, BackendStatus],
            threads: int) -> list[str]:  # fmt: skip
    order_from = device_target or (TARGETS.get(bundle.target) if bundle.target else None)
    parts = []
    if order_from is not None:
        why = order_from.reasons.get("formats", "")
        parts.append(f"first verified format in {order_from.name}'s order ({', '.join(order_from.formats)})"
                     + (f": {why}" if why else ""))  # fmt: skip
    v = e.manifest.verification
    if v.top1_agreement is not None:
        parts.append(f"agreed with eager PyTorch on top-1 for {v.top1_agreement * 100:.0f}% of {v.count} "
                     f"held-out {v.unit} (max |diff| {v.max_abs_diff or 0:.1e})")  # fmt: skip
    b = next(backends[n] for n in get_format(e.format).backends if n in backends and backends[n].available)
    parts.append(f"runs on {b.package} {b.version} here")
    parts.append(f"{threads} thread(s): the target's threads, capped at the cores this process may use")
    if device_target and bundle.target and bundle.target != device_target.name:
        parts.append(f"note: the bundle was built for {bundle.target} but this device fits {device_target.name} "
                     f"(for its own settings run `edge-infer export --target {device_target.name}`)")  # fmt: skip
    return parts


def doctor_report(bundle_path: str | os.PathLike[str] | None = None, *, threads: int | None = None) -> dict[str, Any]:
    """Everything ``edge-infer doctor`` prints, as a dict (also its ``--json`` output). ``bundle_path``: a bundle
    folder or one artifact; ``threads``: the thread count auto's stored choice is shown for (default: the
    recommendation's for a bundle, the usable cores for an artifact)."""
    info = machine_info()
    backends = backend_status()
    fits = target_fits(info)
    best = fits[0][0] if fits and not fits[0][1] else None
    report: dict[str, Any] = {
        "device": {**info.to_dict(), "features_for_targets": sorted(device_features(info))},
        "backends": {n: {"package": b.package, "version": b.version, "extra": b.extra, "available": b.available,
                         "install": b.info.install_hint} for n, b in backends.items()},  # fmt: skip
        "runtime_packages": {p: _version(p) for p in RUNTIME_PACKAGES},
        "targets": [{"name": t.name, "fits": not why, "why_not": why} for t, why in fits],
        "target": best.name if best else None,
    }
    if bundle_path is not None and not Path(bundle_path).is_dir():
        report["artifact"] = str(Path(bundle_path))
        report["auto"] = auto_section(bundle_path, threads or info.cores_usable)
        return report
    if bundle_path is not None:
        bundle = read_bundle(bundle_path)
        rec = recommend(bundle, info, backends)
        report["bundle"] = {
            "path": str(Path(bundle_path)),
            "target": bundle.target,
            "artifacts": [{"file": e.model_path.name, "format": e.format, "status": e.status.value} for e in bundle.entries],
            "rejected": [{"file": f, "why": why} for f, why in rec.rejected],
        }
        report["recommended"] = None if rec.entry is None else {
            "file": rec.entry.model_path.name,
            "format": rec.entry.format,
            "threads": rec.threads,
            "why": rec.reasons,
            "command": f"edge-infer predict {_rel(rec.entry.model_path)} IMAGES... --threads {rec.threads}",
        }
        report["auto"] = auto_section(bundle_path, threads or rec.threads)
    return report


def auto_section(path: str | os.PathLike[str], threads: int) -> dict[str, Any]:
    """What ``backend="auto"`` runs for ``path`` at ``threads``: the choice stored on this machine, or, before any
    measurement, the configuration it starts from (the reference) and the command that measures. Measures nothing."""
    from edge_infer.choice import artifacts_at, candidates, reference_of, stored_choice

    arts, rejected = artifacts_at(path)
    cands, more = candidates(arts, threads)
    stored = stored_choice(path, threads) if len(cands) > 1 else None
    ref = reference_of(cands)
    return {
        "threads": threads,
        "candidates": [c.label for c in cands],
        "rejected": [r.to_dict() for r in [*rejected, *more]],
        "stored": None if stored is None else {**stored.to_dict(), "summary": stored.summary()},
        "static": None if ref is None else ref.label,
        "measure": f"edge-infer bench {_rel(Path(path))} --pick --threads {threads}" if len(cands) > 1 else None,
        "run": f"edge-infer predict {_rel(Path(path))} IMAGES... --threads {threads}" if len(cands) > 1 else None,
    }


def _rel(p: Path) -> str:
    """``p`` relative to the current folder when it is inside it, else absolute."""
    try:
        rel = os.path.relpath(p)
    except ValueError:  # another drive on Windows
        return str(p)
    return str(p.resolve()) if rel.startswith("..") else rel
