"""``BenchResult`` (one target at one thread count) and ``BenchReport`` (one run): the versioned JSON document.

Every measurement writes this document: ``edge-infer bench``, the HTTP overhead harness and every script in
``benchmarks/`` (``kind`` says which; what a script found beyond latency, such as top-1 agreement, is in ``extra``
and in each result's ``target``). ``BenchReport.load(path)`` reads any of them back, schema 1 included, and
``edge-infer compare`` compares any two. Shape (schema 2)::

    {"schema_version": 2, "tool": "edge-infer bench", "kind": "latency", "created": ISO-8601 UTC, "command",
     "config": {...}, "source": {...}, "machine": {...}, "load_average": {"before": [...], "after": [...]},
     "results": [{"artifact", "label", "format", "backend", "threads", "batch", "clients", "via", "load_ms",
                  "cold_ms", "latency_ms": {"n", "p50", "p90", "p95", "p99", "mean", "std", "min", "max"},
                  "e2e_latency_ms": {...}, "preprocess_ms": {...}, "throughput_ips", "e2e_throughput_ips",
                  "wall_s", "ratio_to_fastest", "peak_rss_mb", "model_rss_mb", "memory", "size_bytes", "rounds",
                  "target", "split_ms": {"decode", "preprocess", "model", "hop"}, "split_from", "live": {...},
                  "samples_ms": [...], "e2e_samples_ms": [...], "preprocess_samples_ms": [...],
                  "warmup_samples_ms": [...], "split_samples_ms": {stage: [...]}}],
     "errors": [{"artifact", "label", "via", "threads", "error"}], "extra": {...}}

All times are milliseconds; samples are kept raw, in the order they were taken, warm-up apart. ``split_ms`` is where
a frame's end-to-end time goes (``edge_infer.bench.split``); ``live`` is filled when the source is a video: the
pipelined live loop's FPS, drops and capture-to-result latency (``edge_infer.bench.live``). Both are optional:
a document without them reads as empty. Schema 1 (edge-infer
0.1.0) had no ``kind``, ``clients``, ``wall_s``, ``preprocess_samples_ms`` or ``extra``: they read as ``latency``,
1 client, none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.bench.split import split_medians
from edge_infer.bench.stats import LatencyStats
from edge_infer.errors import BenchError
from edge_infer.machine import machine_info

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
RESULT_KEYS = (
    "artifact", "format", "backend", "threads", "batch", "via", "load_ms", "cold_ms", "latency_ms",
    "e2e_latency_ms", "throughput_ips", "peak_rss_mb", "size_bytes", "samples_ms",
)  # fmt: skip


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    """Measurements of one target at one thread count."""

    artifact: str
    label: str
    format: str
    backend: str
    threads: int
    batch: int
    via: str
    load_ms: float
    cold_ms: float
    samples_ms: tuple[float, ...]
    clients: int = 1
    wall_s: float | None = None  # wall time of the timed model-only calls, when clients > 1
    warmup_samples_ms: tuple[float, ...] = ()
    e2e_samples_ms: tuple[float, ...] = ()
    preprocess_samples_ms: tuple[float, ...] = ()
    rounds: int = 0
    size_bytes: int | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    ratio_to_fastest: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Where each frame's time went (``edge_infer.bench.split``): per-stage samples, and what they came from
    # ("end-to-end calls", or "live loop" when the source is a video played through the pipelined loop).
    split_samples_ms: dict[str, tuple[float, ...]] = field(default_factory=dict)
    split_from: str = ""
    live: dict[str, Any] = field(default_factory=dict)  # the live loop on a video source (``bench.live``)

    def __post_init__(self) -> None:
        # Samples (and wall time) are kept to 4 decimals, as written to JSON, so a report read back is the report written.
        for name in ("samples_ms", "warmup_samples_ms", "e2e_samples_ms", "preprocess_samples_ms"):
            object.__setattr__(self, name, tuple(round(float(v), 4) for v in getattr(self, name)))
        object.__setattr__(self, "split_samples_ms", {k: tuple(round(float(v), 4) for v in vs)
                                                      for k, vs in self.split_samples_ms.items()})  # fmt: skip
        if self.wall_s is not None:
            object.__setattr__(self, "wall_s", round(float(self.wall_s), 4))

    @property
    def latency(self) -> LatencyStats:
        return LatencyStats.from_samples(self.samples_ms)

    @property
    def split_ms(self) -> dict[str, float]:
        """The median of each stage of the split: decode, preprocess, model, hop (those measured)."""
        return split_medians(self.split_samples_ms)

    @property
    def e2e_latency(self) -> LatencyStats | None:
        return LatencyStats.from_samples(self.e2e_samples_ms) if self.e2e_samples_ms else None

    @property
    def throughput_ips(self) -> float:
        """Inputs per second: batch / mean latency for one client (single stream); with N concurrent clients,
        the calls completed over the wall time they took."""
        if self.clients > 1 and self.wall_s:
            return self.batch * len(self.samples_ms) / self.wall_s
        return self.batch * 1000.0 / self.latency.mean if self.latency.mean > 0 else 0.0

    def with_memory(self, memory: dict[str, Any]) -> BenchResult:
        return replace(self, memory=memory)

    def with_ratio(self, ratio: float) -> BenchResult:
        return replace(self, ratio_to_fastest=ratio)

    def to_dict(self) -> dict[str, Any]:
        e2e = self.e2e_latency
        pre = LatencyStats.from_samples(self.preprocess_samples_ms) if self.preprocess_samples_ms else None
        return {
            "artifact": self.artifact,
            "label": self.label,
            "format": self.format,
            "backend": self.backend,
            "threads": self.threads,
            "batch": self.batch,
            "clients": self.clients,
            "via": self.via,
            "load_ms": _r(self.load_ms),
            "cold_ms": _r(self.cold_ms),
            "latency_ms": self.latency.to_dict(),
            "e2e_latency_ms": e2e.to_dict() if e2e else None,
            "preprocess_ms": pre.to_dict() if pre else None,
            "throughput_ips": _r(self.throughput_ips, 3),
            "e2e_throughput_ips": _r(self.batch * 1000.0 / e2e.mean, 3) if e2e and e2e.mean > 0 else None,
            "wall_s": _r(self.wall_s),
            "ratio_to_fastest": _r(self.ratio_to_fastest),
            "peak_rss_mb": self.memory.get("peak_rss_mb"),
            "model_rss_mb": self.memory.get("model_rss_mb"),
            "memory": dict(self.memory),
            "size_bytes": self.size_bytes,
            "rounds": self.rounds,
            "target": dict(self.extra),
            "split_ms": self.split_ms,
            "split_from": self.split_from,
            "live": dict(self.live),
            "samples_ms": [_r(s) for s in self.samples_ms],
            "e2e_samples_ms": [_r(s) for s in self.e2e_samples_ms],
            "preprocess_samples_ms": [_r(s) for s in self.preprocess_samples_ms],
            "warmup_samples_ms": [_r(s) for s in self.warmup_samples_ms],
            "split_samples_ms": {k: [_r(s) for s in v] for k, v in self.split_samples_ms.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        """A result as ``to_dict`` wrote it (schema 1 or 2): the raw samples are the measurement, the summaries
        are recomputed from them."""

        def samples(key: str) -> tuple[float, ...]:
            return tuple(float(v) for v in d.get(key) or ())

        return cls(
            artifact=str(d["artifact"]), label=str(d.get("label", d["artifact"])), format=str(d["format"]),
            backend=str(d["backend"]), threads=int(d["threads"]), batch=int(d["batch"]), via=str(d["via"]),
            load_ms=float(d["load_ms"] or 0.0), cold_ms=float(d["cold_ms"] or 0.0), samples_ms=samples("samples_ms"),
            clients=int(d.get("clients", 1)), wall_s=None if d.get("wall_s") is None else float(d["wall_s"]),
            warmup_samples_ms=samples("warmup_samples_ms"), e2e_samples_ms=samples("e2e_samples_ms"),
            preprocess_samples_ms=samples("preprocess_samples_ms"), rounds=int(d.get("rounds", 0)),
            size_bytes=d.get("size_bytes"), memory=dict(d.get("memory") or {}),
            ratio_to_fastest=None if d.get("ratio_to_fastest") is None else float(d["ratio_to_fastest"]),
            extra=dict(d.get("target") or {}),
            split_samples_ms={str(k): tuple(float(x) for x in v) for k, v in (d.get("split_samples_ms") or {}).items()},
            split_from=str(d.get("split_from") or ""), live=dict(d.get("live") or {}),
        )  # fmt: skip


def paired_ratio(samples: tuple[float, ...], fastest: tuple[float, ...], round_size: int) -> float:
    """Median over rounds of (this target's median in the round / the fastest target's median in the same round).

    Rounds were run back to back, so a load spike or clock change hits both sides of each pair alike; the median
    over rounds then ignores the rounds a spike hit one side only (a paired comparison, as in A/B benchmarking)."""
    n = min(len(samples), len(fastest))
    pairs = [
        float(np.median(samples[i : i + round_size]) / np.median(fastest[i : i + round_size]))
        for i in range(0, n, round_size)
    ]
    return float(np.median(pairs)) if pairs else float("nan")


def with_ratios(results: list[BenchResult], round_size: int) -> list[BenchResult]:
    """Each result against the fastest (lowest p50) among results with the same thread count, batch and client
    count, i.e. those interleaved together: ``ratio_to_fastest`` is the paired per-round ratio (robust on a busy
    machine)."""
    best: dict[tuple[int, int, int], BenchResult] = {}
    for r in results:
        key = (r.threads, r.batch, r.clients)
        if key not in best or r.latency.p50 < best[key].latency.p50:
            best[key] = r
    out = []
    for r in results:
        fastest = best[(r.threads, r.batch, r.clients)]
        ratio = 1.0 if r is fastest else paired_ratio(r.samples_ms, fastest.samples_ms, round_size * r.clients)
        out.append(r.with_ratio(ratio))
    return out


@dataclass(frozen=True, kw_only=True)
class TargetFailure:
    """A target that could not be measured, and why."""

    artifact: str
    label: str
    via: str
    threads: int | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "label": self.label, "via": self.via, "threads": self.threads,
                "error": self.error}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetFailure:
        return cls(artifact=str(d.get("artifact", "")), label=str(d.get("label", "")), via=str(d.get("via", "")),
                   threads=d.get("threads"), error=str(d.get("error", "")))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class BenchReport:
    """One benchmark run: configuration, machine, results and failures. ``kind`` names what was measured
    (``latency`` for ``edge-infer bench``, ``http-overhead``, a benchmark script's name); ``extra`` holds what a
    script found beyond latency."""

    created: str
    config: dict[str, Any]
    source: dict[str, Any]
    machine: dict[str, Any]
    load_average: dict[str, Any]
    results: tuple[BenchResult, ...]
    errors: tuple[TargetFailure, ...] = ()
    command: str = ""
    kind: str = "latency"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def now(
        cls, *, kind: str, config: Mapping[str, Any], results: Sequence[BenchResult] = (),
        source: Mapping[str, Any] | None = None, load_average: tuple[Sequence[float] | None, Sequence[float] | None]
        | None = None, errors: Sequence[TargetFailure] = (), extra: Mapping[str, Any] | None = None, command: str = "",
    ) -> BenchReport:  # fmt: skip
        """A report created now on this machine: what every benchmark script writes (``kind`` names the
        script's measurement; ``load_average`` is the 1/5/15-minute load before and after)."""
        before, after = load_average or (None, None)
        return cls(
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), config=dict(config),
            source=dict(source or {}), machine=machine_info().to_dict(),
            load_average={"before": _load(before), "after": _load(after)}, results=tuple(results),
            errors=tuple(errors), command=command, kind=kind, extra=dict(extra or {}),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "edge-infer bench",
            "kind": self.kind,
            "created": self.created,
            "command": self.command,
            "config": self.config,
            "source": self.source,
            "machine": self.machine,
            "load_average": self.load_average,
            "results": [r.to_dict() for r in self.results],
            "errors": [e.to_dict() for e in self.errors],
            "extra": self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "benchmark document") -> BenchReport:
        """The report in ``data`` (a parsed JSON document of schema 1 or 2); a BenchError naming ``where`` and
        what is wrong otherwise."""
        if not isinstance(data, dict) or data.get("schema_version") not in READABLE_SCHEMAS:
            found = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
            raise BenchError(f"{where}: not an edge-infer bench result (schema {found}; this edge-infer reads "
                             f"{', '.join(map(str, READABLE_SCHEMAS))})")  # fmt: skip
        results = []
        for i, r in enumerate(data.get("results") or []):
            missing = [k for k in RESULT_KEYS if not isinstance(r, dict) or k not in r]
            if missing:
                raise BenchError(f"{where}: result {i} lacks {', '.join(missing)}")
            try:
                results.append(BenchResult.from_dict(r))
            except (TypeError, ValueError) as exc:
                raise BenchError(f"{where}: result {i} is malformed ({exc})") from exc
        return cls(
            created=str(data.get("created", "")), config=dict(data.get("config") or {}),
            source=dict(data.get("source") or {}), machine=dict(data.get("machine") or {}),
            load_average=dict(data.get("load_average") or {}), results=tuple(results),
            errors=tuple(TargetFailure.from_dict(e) for e in data.get("errors") or [] if isinstance(e, dict)),
            command=str(data.get("command", "")), kind=str(data.get("kind", "latency")),
            extra=dict(data.get("extra") or {}),
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str, *, where: str = "benchmark document") -> BenchReport:
        """``from_dict`` of a JSON string."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BenchError(f"{where}: not JSON ({exc})") from exc
        return cls.from_dict(data, where=where)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchReport:
        """A saved report (``--out`` of ``edge-infer bench``, any ``benchmarks/`` result)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        return cls.from_json(text, where=str(path))

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(self.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"{p}: cannot write results ({exc.strerror or exc})") from exc
        return p


def _load(values: Sequence[float] | None) -> list[float] | None:
    return [round(float(v), 2) for v in values] if values else None
