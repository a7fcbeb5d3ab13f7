"""``BenchResult`` (one target at one thread count) and ``BenchReport`` (one run): the versioned JSON document.

Shape (schema 1)::

    {"schema_version": 1, "tool": "edge-infer bench", "created": ISO-8601 UTC, "config": {...}, "source": {...},
     "machine": {...}, "load_average": {"before": [...], "after": [...]},
     "results": [{"artifact", "label", "format", "backend", "threads", "batch", "via", "load_ms", "cold_ms",
                  "latency_ms": {"n", "p50", "p90", "p95", "p99", "mean", "std", "min", "max"},
                  "e2e_latency_ms": {...}, "preprocess_ms": {...}, "throughput_ips", "e2e_throughput_ips",
                  "ratio_to_fastest", "peak_rss_mb", "model_rss_mb", "memory", "size_bytes", "rounds", "target",
                  "samples_ms": [...], "e2e_samples_ms": [...], "warmup_samples_ms": [...]}],
     "errors": [{"artifact", "label", "via", "threads", "error"}]}

All times are milliseconds; samples are kept raw, in the order they were taken, warm-up apart.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.bench.stats import LatencyStats
from edge_infer.errors import BenchError

SCHEMA_VERSION = 1
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
    warmup_samples_ms: tuple[float, ...] = ()
    e2e_samples_ms: tuple[float, ...] = ()
    preprocess_samples_ms: tuple[float, ...] = ()
    rounds: int = 0
    size_bytes: int | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    ratio_to_fastest: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> LatencyStats:
        return LatencyStats.from_samples(self.samples_ms)

    @property
    def e2e_latency(self) -> LatencyStats | None:
        return LatencyStats.from_samples(self.e2e_samples_ms) if self.e2e_samples_ms else None

    @property
    def throughput_ips(self) -> float:
        """Images per second, one request after another (single stream): batch / mean latency."""
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
            "via": self.via,
            "load_ms": _r(self.load_ms),
            "cold_ms": _r(self.cold_ms),
            "latency_ms": self.latency.to_dict(),
            "e2e_latency_ms": e2e.to_dict() if e2e else None,
            "preprocess_ms": pre.to_dict() if pre else None,
            "throughput_ips": _r(self.throughput_ips, 3),
            "e2e_throughput_ips": _r(self.batch * 1000.0 / e2e.mean, 3) if e2e and e2e.mean > 0 else None,
            "ratio_to_fastest": _r(self.ratio_to_fastest),
            "peak_rss_mb": self.memory.get("peak_rss_mb"),
            "model_rss_mb": self.memory.get("model_rss_mb"),
            "memory": dict(self.memory),
            "size_bytes": self.size_bytes,
            "rounds": self.rounds,
            "target": dict(self.extra),
            "samples_ms": [_r(s) for s in self.samples_ms],
            "e2e_samples_ms": [_r(s) for s in self.e2e_samples_ms],
            "warmup_samples_ms": [_r(s) for s in self.warmup_samples_ms],
        }


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
    """Each result against the fastest (lowest p50) among results with the same thread count and batch, i.e. those
    interleaved together: ``ratio_to_fastest`` is the paired per-round ratio (robust on a busy machine)."""
    best: dict[tuple[int, int], BenchResult] = {}
    for r in results:
        key = (r.threads, r.batch)
        if key not in best or r.latency.p50 < best[key].latency.p50:
            best[key] = r
    out = []
    for r in results:
        fastest = best[(r.threads, r.batch)]
        ratio = 1.0 if r is fastest else paired_ratio(r.samples_ms, fastest.samples_ms, round_size)
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


@dataclass(frozen=True, kw_only=True)
class BenchReport:
    """One benchmark run: configuration, machine, results and failures."""

    created: str
    config: dict[str, Any]
    source: dict[str, Any]
    machine: dict[str, Any]
    load_average: dict[str, Any]
    results: tuple[BenchResult, ...]
    errors: tuple[TargetFailure, ...] = ()
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "edge-infer bench",
            "created": self.created,
            "command": self.command,
            "config": self.config,
            "source": self.source,
            "machine": self.machine,
            "load_average": self.load_average,
            "results": [r.to_dict() for r in self.results],
            "errors": [e.to_dict() for e in self.errors],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(self.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"{p}: cannot write results ({exc.strerror or exc})") from None
        return p


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved report as a dict, after checking it is one (schema version and result keys)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable benchmark JSON file ({exc})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise BenchError(f"{path}: not an edge-infer bench result of schema {SCHEMA_VERSION}")
    for i, r in enumerate(data.get("results", [])):
        missing = [k for k in RESULT_KEYS if k not in r]
        if missing:
            raise BenchError(f"{path}: result {i} lacks {', '.join(missing)}")
    return data
