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

from edge_infer.artifact import Artifact
from edge_infer.bundle import Bundle, BundleEntry, engine_problem, read_bundle
from edge_infer.errors import ArtifactError
from edge_infer.formats import format_names, get_format
from edge_infer.machine import MachineInfo, machine_info
from targets import PROFILES, Target, get_target

# backend -> (Python distributions, any one of which provides it), the extra that installs it
BACKEND_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "onnxruntime": (("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"), "runtime"),
    "torchscript": (("torch",), "export"),
    "lite": (("torch",), "export"),
    "sklearn": (("scikit-learn",), "tabular"),
}
RUNTIME_PACKAGES = ("numpy", "opencv-python-headless", "pillow")
# machine.isa summary flag -> the Linux feature name targets use (for systems without /proc/cpuinfo, e.g. macOS)
_ISA_TO_FEATURE = {"neon": "asimd", "dotprod": "asimddp", "i8mm": "i8mm", "fp16": "asimdhp", "avx2": "avx2",
                   "fma": "fma", "avx": "avx", "f16c": "f16c", "sse4_2": "sse4_2", "avx512": "avx512f"}  # fmt: skip


@dataclass(frozen=True)
class BackendStatus:
    name: str
    package: str  # the distribution found, or the first one that would provide it
    version: str | None
    extra: str
    registered: bool  # edge-infer has a backend module for it

    @property
    def available(self) -> bool:
        return self.registered and self.version is not None


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
    """Every backend a format names: is it implemented, and is its library installed (by metadata, not import)."""
    from edge_infer.backends import BACKENDS

    registered = {k.split(":", 1)[0] for k in BACKENDS}
    names = list(dict.fromkeys([get_format(f).backend for f in format_names()] + sorted(registered)))
    out = {}
    for name in names:
        dists, extra = BACKEND_PACKAGES.get(name, ((name,), "?"))
        found = next(((d, v) for d in dists if (v := _version(d)) is not None), (dists[0], None))
        out[name] = BackendStatus(name, found[0], found[1], extra, name in registered)
    return out


def device_features(info: MachineInfo) -> set[str]:
    """CPU feature names as targets spell them (Linux names), from /proc/cpuinfo or the ISA summary."""
    return set(info.cpu_flags) | {_ISA_TO_FEATURE[k] for k, v in info.isa.items() if v and k in _ISA_TO_FEATURE}


def target_fits(info: MachineInfo) -> list[tuple[Target, list[str]]]:
    """Every profile with why it does not fit (empty: fits); fitting ones first, most specific first."""
    feats, system = device_features(info), info.os.lower()
    rows = [(t, t.missing_for(info.arch, feats, system)) for t in PROFILES.values()]
    return sorted(rows, key=lambda r: (bool(r[1]), -len(r[0].cpu_features)))


def best_target(info: MachineInfo) -> Target | None:
    fits = target_fits(info)
    return fits[0][0] if fits and not fits[0][1] else None


def _entry_problem(
    e: BundleEntry, info: MachineInfo, backends: dict[str, BackendStatus], target: str | None
) -> str | None:
    if e.status not in ("verified", "skipped"):
        why = e.manifest.verification.get("error") or e.info.get("error") or ""
        return f"did not verify at export ({e.status}{': ' + str(why)[:120] if why else ''})"
    problem = engine_problem(e.manifest, info.arch, target=target)
    if problem:
        return problem
    b = backends.get(get_format(e.format).backend)
    if b is None or not b.registered:
        return f"this edge-infer has no backend for {e.format}"
    if b.version is None:
        return f"needs {b.package}, not installed here (pip install 'edge-infer[{b.extra}]')"
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
    bundle_target = get_target(bundle.target) if bundle.target in PROFILES else None
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
    order_from = device_target or (get_target(bundle.target) if bundle.target in PROFILES else None)
    parts = []
    if order_from is not None:
        why = order_from.reasons.get("formats", "")
        parts.append(f"first verified format in {order_from.name}'s order ({', '.join(order_from.formats)})"
                     + (f": {why}" if why else ""))  # fmt: skip
    v = e.manifest.verification
    if "top1_agreement" in v:
        parts.append(f"agreed with eager PyTorch on top-1 for {v['top1_agreement'] * 100:.0f}% of {v.get('images')} "
                     f"held-out images (max |diff| {v.get('max_abs_diff', 0):.1e})")  # fmt: skip
    b = backends[get_format(e.format).backend]
    parts.append(f"runs on {b.package} {b.version} here")
    parts.append(f"{threads} thread(s): the target's threads, capped at the cores this process may use")
    if device_target and bundle.target and bundle.target != device_target.name:
        parts.append(f"note: the bundle was built for {bundle.target} but this device fits {device_target.name} "
                     f"(for its own settings run `edge-infer export --target {device_target.name}`)")  # fmt: skip
    return parts


def doctor_report(bundle_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Everything ``edge-infer doctor`` prints, as a dict (also its ``--json`` output)."""
    info = machine_info()
    backends = backend_status()
    fits = target_fits(info)
    best = fits[0][0] if fits and not fits[0][1] else None
    report: dict[str, Any] = {
        "device": {**info.to_dict(), "features_for_targets": sorted(device_features(info))},
        "backends": {n: {"package": b.package, "version": b.version, "extra": b.extra, "registered": b.registered,
                         "available": b.available} for n, b in backends.items()},  # fmt: skip
        "runtime_packages": {p: _version(p) for p in RUNTIME_PACKAGES},
        "targets": [{"name": t.name, "fits": not why, "why_not": why} for t, why in fits],
        "target": best.name if best else None,
    }
    if bundle_path is not None:
        bundle = read_bundle(bundle_path)
        rec = recommend(bundle, info, backends)
        report["bundle"] = {
            "path": str(Path(bundle_path)),
            "target": bundle.target,
            "artifacts": [{"file": e.model_path.name, "format": e.format, "status": e.status} for e in bundle.entries],
            "rejected": [{"file": f, "why": why} for f, why in rec.rejected],
        }
        report["recommended"] = None if rec.entry is None else {
            "file": rec.entry.model_path.name,
            "format": rec.entry.format,
            "threads": rec.threads,
            "why": rec.reasons,
            "command": f"edge-infer predict {_rel(rec.entry.model_path)} IMAGES... --threads {rec.threads}",
        }
    return report


def _rel(p: Path) -> str:
    """``p`` relative to the current folder when it is inside it, else absolute."""
    try:
        rel = os.path.relpath(p)
    except ValueError:  # another drive on Windows
        return str(p)
    return str(p.resolve()) if rel.startswith("..") else rel
