"""``backend="auto"``: which artifact and engine to run here, chosen by a short on-device measurement, cached.

The rule (docs/auto.md):

1. Candidates are every artifact given (one file, or the artifacts of a bundle folder) on every installed backend able
   to run its format and task. A candidate is kept only when ``trust_problem`` finds nothing: the artifact verified
   at export, and a quantized one runs on the backend it was verified on (integer kernels differ per engine).
2. One candidate left: it is the choice, nothing is measured. Several: they are timed here in one interleaved run
   against the reference, ONNX Runtime on the fp32 ``.onnx`` when there is one (``edge_infer.bench.pick``), and a
   float candidate whose probabilities differ from the reference's by more than 1e-3 is rejected.
3. ``decide``: another candidate replaces the reference only if its paired p50 ratio to it is at most
   ``1 - MARGIN`` (0.97), so auto is never slower than ONNX Runtime fp32 by more than the noise of the
   measurement, and never picks a configuration that is not verified.

The choice is cached as JSON per machine (``machine_key``: CPU model, the instruction sets that change kernels,
usable cores, engine versions), artifact sha256(s) and thread count, under ``cache_folder("choices")``. Written
atomically (a temporary file, then ``os.replace``); where the cache cannot be written, it is kept in memory for this
process (``edge_infer.choice_store``). The trust rule is ``edge_infer.trust``. ``resolve`` is what ``load()`` and the
CLI call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_infer.artifact import Artifact
from edge_infer.backends import BACKENDS, check_engine, choose_backend, get_backend
from edge_infer import choice_store
from edge_infer.choice_store import machine_key
from edge_infer.errors import ArtifactError
from edge_infer.formats import get_format
from edge_infer.threads import resolve_threads
from edge_infer.trust import trust_problem, verified_backend

AUTO = "auto"
MARGIN = 0.03  # another configuration replaces the reference only when at least this much faster (paired p50)
CHOICE_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One configuration auto may choose: an artifact file on a backend at a thread count."""

    path: Path
    format: str
    backend: str
    threads: int
    sha256: str = ""
    quantized: bool = False

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.backend})"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path.name, "path": str(self.path), "format": self.format, "backend": self.backend,
                "threads": self.threads, "sha256": self.sha256, "quantized": self.quantized}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(path=Path(d["path"]), format=str(d["format"]), backend=str(d["backend"]), threads=int(d["threads"]),
                   sha256=str(d.get("sha256", "")), quantized=bool(d.get("quantized", False)))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Measured:
    """A candidate as timed beside the reference: p50/p90 in ms, the paired per-round ratio of its p50 to the
    reference's, the largest probability difference from the reference on real photos, its load time in this
    process (shown, not weighed: auto optimizes the latency of every call after the first), and an error if it
    failed."""

    candidate: Candidate
    p50_ms: float | None = None
    p90_ms: float | None = None
    ratio: float | None = None
    max_prob_diff: float | None = None
    load_ms: float | None = None
    runs: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        for name in ("p50_ms", "p90_ms", "ratio", "max_prob_diff", "load_ms"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, round(float(value), 4 if name != "max_prob_diff" else 8))

    def to_dict(self) -> dict[str, Any]:
        return {**self.candidate.to_dict(), "p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "ratio": self.ratio,
                "max_prob_diff": self.max_prob_diff, "load_ms": self.load_ms, "runs": self.runs,
                "error": self.error}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measured:
        return cls(candidate=Candidate.from_dict(d), p50_ms=d.get("p50_ms"), p90_ms=d.get("p90_ms"),
                   ratio=d.get("ratio"), max_prob_diff=d.get("max_prob_diff"), load_ms=d.get("load_ms"),
                   runs=int(d.get("runs", 0)), error=d.get("error"))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A configuration auto did not consider, and why (not verified, not installed, failed to load, ...)."""

    what: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "reason": self.reason}


@dataclass(frozen=True, kw_only=True)
class Choice:
    """What auto chose (``path``, ``backend``, ``threads``), why, against which reference, from which measurements."""

    path: Path
    sha256: str
    format: str
    backend: str
    threads: int
    reason: str
    reference: str | None = None
    measured: tuple[Measured, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    key: str = ""
    created: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.backend})"

    @property
    def trivial(self) -> bool:
        """Nothing to choose between: one verified configuration could run, and nothing was turned away."""
        return not self.measured and not self.rejected

    def summary(self) -> str:
        """One line: what was chosen and why (the CLI's note on stderr)."""
        return f"auto chose {self.backend} on {self.path.name}, {self.threads} thread(s): {self.reason}" + (
            f" (measured {self.created})" if self.cached else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": CHOICE_SCHEMA, "file": self.path.name, "path": str(self.path), "sha256": self.sha256,
            "format": self.format, "backend": self.backend, "threads": self.threads, "reason": self.reason,
            "reference": self.reference, "measured": [m.to_dict() for m in self.measured],
            "rejected": [r.to_dict() for r in self.rejected], "key": self.key, "created": self.created,
            "machine": self.machine, "margin": MARGIN,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any) -> Choice:
        if not isinstance(d, dict) or d.get("schema_version") != CHOICE_SCHEMA:
            raise ValueError("not a choice of this edge-infer version")
        return cls(
            path=Path(d["path"]), sha256=str(d["sha256"]), format=str(d["format"]), backend=str(d["backend"]),
            threads=int(d["threads"]), reason=str(d["reason"]), reference=d.get("reference"),
            measured=tuple(Measured.from_dict(m) for m in d.get("measured") or ()),
            rejected=tuple(Rejected(what=str(r["what"]), reason=str(r["reason"])) for r in d.get("rejected") or ()),
            key=str(d.get("key", "")), created=str(d.get("created", "")), machine=dict(d.get("machine") or {}),
        )  # fmt: skip


@dataclass(frozen=True)
class Resolved:
    """What to load: the artifact, the backend and threads, and the choice behind them (None: named by the user)."""

    artifact: Artifact
    backend: str
    threads: int
    choice: Choice | None = None


Measure = Callable[[Sequence[Candidate], Candidate, int], Sequence[Measured]]


# -- candidates ---------------------------------------------------------------------------------------------------
def artifacts_at(path: str | os.PathLike[str] | Artifact) -> tuple[list[Artifact], list[Rejected]]:
    """The artifacts at ``path``: one model file (or manifest), or every artifact of a bundle folder; the bundle's
    entries that cannot be used (failed exports, files that do not read) come back as rejected, with why."""
    if isinstance(path, Artifact):
        return [path], []
    p = Path(path)
    if not p.is_dir():
        return [Artifact.read(p)], []
    from edge_infer.bundle import read_bundle

    bundle = read_bundle(p)
    arts: list[Artifact] = []
    rejected = [Rejected(what=r.format, reason=f"export failed ({r.status}{': ' + r.error[:100] if r.error else ''})")
                for r in bundle.index.artifacts if not r.file]  # fmt: skip
    for entry in bundle.entries:
        try:
            arts.append(Artifact.read(entry.model_path))
        except ArtifactError as exc:
            rejected.append(Rejected(what=entry.model_path.name, reason=str(exc)))
    return arts, rejected


def candidates(
    artifacts: Sequence[Artifact], threads: int, *, backend: str | None = None
) -> tuple[list[Candidate], list[Rejected]]:
    """Every (artifact, installed backend able to run it) that may be trusted here; the others with why not.
    ``backend``: only that backend."""
    kept: list[Candidate] = []
    rejected: list[Rejected] = []
    for art in artifacts:
        fmt, task = art.format, art.manifest.task
        for name in fmt.backends:
            info = get_backend(name)
            what = f"{art.path.name} ({name})"
            if task not in info.predictors or (backend is not None and name != backend):
                continue
            if not info.installed:
                rejected.append(Rejected(what=what, reason=f"not installed ({info.install_hint})"))
                continue
            problem = trust_problem(art.manifest, name)
            if problem:
                rejected.append(Rejected(what=what, reason=problem))
                continue
            kept.append(Candidate(path=art.path, format=fmt.name, backend=name, threads=threads,
                                  sha256=art.manifest.sha256, quantized=fmt.quantized))  # fmt: skip
    return kept, rejected


def reference_of(cands: Sequence[Candidate]) -> Candidate | None:
    """What every candidate must beat: ONNX Runtime on the fp32 ``.onnx``; else a float artifact on its format's
    default backend; else the first candidate."""
    onnx = [c for c in cands if c.format == "onnx" and c.backend == "onnxruntime"]
    floats = [c for c in cands if not c.quantized and c.backend == get_format(c.format).backend]
    return next(iter(onnx or floats or cands), None)


def decide(measured: Sequence[Measured], reference: Candidate) -> tuple[Measured | None, str]:
    """The measured candidate to run and why: the reference, unless another is faster by at least ``MARGIN``
    (paired p50 ratio <= 0.97). Candidates that failed to load, run or match the reference are skipped."""
    ok = [m for m in measured if m.error is None and m.p50_ms is not None]
    ref = next((m for m in ok if m.candidate == reference), None)
    if ref is None:  # nothing to be slower than: the fastest p50 of those that ran
        if not ok:
            return None, "every candidate failed"
        best = min(ok, key=lambda m: m.p50_ms or float("inf"))
        return best, f"fastest p50 ({best.p50_ms:.2f} ms); the reference {reference.label} could not be measured"
    others = sorted((m for m in ok if m is not ref and m.ratio is not None), key=lambda m: m.ratio or float("inf"))
    if others and (others[0].ratio or 1.0) <= 1 - MARGIN:
        best = others[0]
        return best, (f"{1 / (best.ratio or 1):.2f}x faster than {reference.label} (p50 {best.p50_ms:.2f} vs "
                      f"{ref.p50_ms:.2f} ms, paired ratio {best.ratio:.3f})")  # fmt: skip
    if others:
        runner = others[0]
        return ref, (f"the reference; nothing else was at least {MARGIN:.0%} faster (next: {runner.candidate.label} "
                     f"at {runner.ratio:.3f} of its p50)")  # fmt: skip
    return ref, "the reference; every other candidate failed"


# -- the cache (edge_infer.choice_store) ------------------------------------------------------------------------
def cache_key(cands: Sequence[Candidate], threads: int, backend: str | None = None) -> tuple[str, dict[str, Any]]:
    """The cache file's name: machine, the candidates' sha256s, threads (and a backend restriction)."""
    return choice_store.cache_key((c.sha256 for c in cands), threads, backend)


def _read_cached(key: str) -> Choice | None:
    data = choice_store.read(key)
    try:
        return None if data is None else replace(Choice.from_dict(data), cached=True)
    except (ValueError, KeyError, TypeError):  # corrupt: measured again, rewritten
        return None


def _store(choice: Choice) -> None:
    choice_store.write(choice.key, choice.to_dict())


def _matching(cached: Choice, cands: Sequence[Candidate]) -> Choice | None:
    """The cached choice pointed at the candidate it names today (files may have moved; sha256 and backend stay)."""
    for c in cands:
        if c.sha256 == cached.sha256 and c.backend == cached.backend:
            return replace(cached, path=c.path)
    return None


# -- choosing -----------------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _single(c: Candidate, rejected: Sequence[Rejected], reason: str) -> Choice:
    return Choice(path=c.path, sha256=c.sha256, format=c.format, backend=c.backend, threads=c.threads, reason=reason,
                  reference=c.label, rejected=tuple(rejected), created=_now())  # fmt: skip


def _none_trusted(where: str, rejected: Sequence[Rejected]) -> ArtifactError:
    reasons = "; ".join(f"{r.what}: {r.reason}" for r in rejected) or "nothing to run"
    return ArtifactError(f"{where}: no configuration is verified to run on this device ({reasons})")


def choose(
    artifacts: Sequence[Artifact], threads: int | None = None, *, refresh: bool = False, measure: Measure | None = None,
    rejected: Sequence[Rejected] = (), backend: str | None = None,
) -> Choice:  # fmt: skip
    """The fastest trusted configuration of ``artifacts`` at ``threads``, by the rule in this module's docstring:
    from the cache unless ``refresh``; measured with ``measure`` (default ``edge_infer.bench.pick
    .measure_candidates``) when several candidates are left. ``rejected``: found unusable beforehand (shown)."""
    n = resolve_threads(threads)
    cands, more = candidates(artifacts, n, backend=backend)
    rejected = [*rejected, *more]
    if not cands:
        raise _none_trusted(str(artifacts[0].path.parent if len(artifacts) > 1 else artifacts[0].path)
                            if artifacts else "auto", rejected)  # fmt: skip
    if len(cands) == 1:
        return _single(cands[0], rejected, "the only verified configuration installed here")
    reference = reference_of(cands)
    assert reference is not None  # cands is not empty
    key, facts = cache_key(cands, n, backend)
    if not refresh and (cached := _read_cached(key)) is not None and (hit := _matching(cached, cands)) is not None:
        return hit
    if measure is None:
        from edge_infer.bench.pick import measure_candidates

        measure = measure_candidates
    from edge_infer.machine import load_average

    facts = {**facts, "load_average": load_average()}  # recorded, not keyed: a busy machine measures noisily
    measured = tuple(measure(cands, reference, n))
    best, reason = decide(measured, reference)
    if best is None:
        errors = [Rejected(what=m.candidate.label, reason=m.error or "failed") for m in measured]
        raise _none_trusted(str(reference.path), [*rejected, *errors])
    c = best.candidate
    choice = Choice(path=c.path, sha256=c.sha256, format=c.format, backend=c.backend, threads=n, reason=reason,
                    reference=reference.label, measured=measured, rejected=tuple(rejected), key=key, created=_now(),
                    machine=facts)  # fmt: skip
    _store(choice)
    return choice


def stored_choice(path: str | os.PathLike[str], threads: int | None = None) -> Choice | None:
    """The cached choice for the artifact or bundle at ``path`` and ``threads`` on this machine, measuring nothing
    (None: not measured yet, or nothing to choose between)."""
    arts, _ = artifacts_at(path)
    cands, _ = candidates(arts, resolve_threads(threads))
    if len(cands) < 2:
        return None
    cached = _read_cached(cache_key(cands, resolve_threads(threads))[0])
    return None if cached is None else _matching(cached, cands)


def resolve(
    path: str | os.PathLike[str] | Artifact, backend: str | None = AUTO, threads: int | None = None,
    *, refresh: bool = False,
) -> Resolved:  # fmt: skip
    """What ``load()`` and the CLI run for ``path`` (a model file, its manifest, or a bundle folder).

    ``backend`` named: that backend on the file (a bundle: its artifacts on that backend, chosen as below).
    ``"auto"`` / None: ``choose`` among the trusted configurations. A single artifact that is not verified still
    runs, on its format's default backend, with a choice whose reason says so (nothing is measured for it).
    """
    n = resolve_threads(threads)
    named = backend not in (None, AUTO)
    is_folder = not isinstance(path, Artifact) and Path(path).is_dir()
    if named and not is_folder:
        art = path if isinstance(path, Artifact) else Artifact.read(path)
        check_engine(art)
        info = choose_backend(art.format, backend, task=art.manifest.task)  # one that can run it, installed
        return Resolved(art, info.name, n)
    arts, rejected = artifacts_at(path)
    if not is_folder:
        art = arts[0]
        check_engine(art)  # before any backend is looked for: no package installed here would help
        cands, more = candidates(arts, n)
        if not cands:
            fallback = choose_backend(art.format, None, task=art.manifest.task).name
            why = next((r.reason for r in more if r.what.endswith(f"({fallback})")), None) or (
                more[0].reason if more else "no trusted backend")
            reason = f"{why}; nothing measured, running the format's default backend"
            c = Candidate(path=art.path, format=art.format.name, backend=fallback, threads=n,
                          sha256=art.manifest.sha256, quantized=art.format.quantized)  # fmt: skip
            return Resolved(art, fallback, n, _single(c, more, reason))
    choice = choose(arts, n, refresh=refresh, rejected=rejected, backend=str(backend) if named else None)
    by_path = {a.path: a for a in arts}
    return Resolved(by_path[choice.path], choice.backend, n, choice)


def measured_choice(artifact: Artifact) -> bool:
    """Whether auto's choice for ``artifact`` depends on a measurement (several trusted configurations can run it)."""
    return len(candidates([artifact], 1)[0]) > 1


def is_auto(backend: str | None) -> bool:
    """``backend`` asks for the automatic choice (``"auto"`` or None)."""
    return backend is None or backend == AUTO


__all__ = [
    "AUTO", "MARGIN", "Candidate", "Choice", "Measured", "Rejected", "Resolved", "artifacts_at",
    "cache_key", "candidates", "choose", "decide", "is_auto", "machine_key", "measured_choice", "reference_of",
    "resolve",
    "stored_choice", "trust_problem", "verified_backend",
]
