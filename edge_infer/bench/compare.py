"""Compare saved ``edge-infer bench`` results (as pyperf's ``compare_to`` does): each target measured in both runs,
matched by label, way, threads and batch, with the ratio of median latencies and a bootstrap 95% interval of it.

The two runs were not interleaved with each other, so a change of machine load between them shows up as a change:
compare runs taken under similar load (each file records its load average, shown in the header). Two files from
different machines compare the devices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_infer.bench.result import BenchReport, BenchResult

# Two back-to-back runs of the default-model suite on a quiet machine here (benchmarks/results/amd-epyc-2c-x86-64/
# default_model.run{1,2}.json): per-target p50 moved by up to 3.5%, with intervals that exclude 1. Smaller changes
# than this are not called changes by default.
MIN_CHANGE = 0.05
MAX_BOOTSTRAP_CELLS = 4_000_000  # resamples x samples per side, to bound memory on a small device
RESAMPLES = 2000


@dataclass(frozen=True)
class Comparison:
    """One target in both runs: median model-only latency, other/base ratio and its 95% bootstrap interval."""

    label: str
    via: str
    threads: int
    batch: int
    base_p50: float
    other_p50: float
    ratio: float
    low: float
    high: float
    clients: int = 1
    base_e2e_p50: float | None = None
    other_e2e_p50: float | None = None
    min_change: float = MIN_CHANGE

    @property
    def verdict(self) -> str:
        """Faster/slower only when the whole interval is beyond ``min_change``; else within noise."""
        if self.high < 1.0 / (1.0 + self.min_change):
            return f"{1 / self.ratio:.2f}x faster"
        if self.low > 1.0 + self.min_change:
            return f"{self.ratio:.2f}x slower"
        return f"same (within {self.min_change:.0%})" if self.low > 1.0 or self.high < 1.0 else "no significant change"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "via": self.via, "threads": self.threads, "batch": self.batch, "clients": self.clients,
            "base_p50_ms": self.base_p50, "other_p50_ms": self.other_p50, "ratio": self.ratio,
            "ratio_95ci": [self.low, self.high], "verdict": self.verdict,
            "base_e2e_p50_ms": self.base_e2e_p50, "other_e2e_p50_ms": self.other_e2e_p50,
        }  # fmt: skip


@dataclass(frozen=True)
class ComparisonReport:
    """What two saved runs have in common, and what only one of them measured."""

    base: BenchReport
    other: BenchReport
    base_path: str
    other_path: str
    rows: tuple[Comparison, ...]
    only_base: tuple[str, ...]
    only_other: tuple[str, ...]

    @property
    def same_machine(self) -> bool:
        keys = ("cpu_model", "arch", "cores_logical")
        return all(self.base.machine.get(k) == self.other.machine.get(k) for k in keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base_path,
            "other": self.other_path,
            "same_machine": self.same_machine,
            "comparisons": [c.to_dict() for c in self.rows],
            "only_in_base": list(self.only_base),
            "only_in_other": list(self.only_other),
        }


Key = tuple[str, str, int, int, int]


def _key(r: BenchResult) -> Key:
    return r.label, r.via, r.threads, r.batch, r.clients


def _name(key: Key) -> str:
    label, via, threads, batch, clients = key
    return f"{label} ({via}, {threads} thread(s), batch {batch}" + (f", {clients} clients)" if clients > 1 else ")")


def median_ratio_interval(base: np.ndarray, other: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of median(other*) / median(base*) over bootstrap resamples of each side."""
    rng = np.random.default_rng(seed)
    resamples = max(200, min(RESAMPLES, MAX_BOOTSTRAP_CELLS // max(len(base), len(other), 1)))
    mb = np.median(rng.choice(base, (resamples, len(base))), axis=1)
    mo = np.median(rng.choice(other, (resamples, len(other))), axis=1)
    low, high = np.percentile(mo / mb, [2.5, 97.5])
    return float(low), float(high)


def _e2e_p50(r: BenchResult) -> float | None:
    e2e = r.e2e_latency
    return e2e.p50 if e2e else None


def compare_results(
    base_path: str | os.PathLike[str], other_path: str | os.PathLike[str], *, min_change: float = MIN_CHANGE
) -> ComparisonReport:
    """Read two saved results (``edge-infer bench --out`` files or any ``benchmarks/`` result) and compare every
    target they both measured. A target is called faster or slower only when the 95% interval of its latency
    ratio lies beyond ``min_change``."""
    base, other = BenchReport.load(base_path), BenchReport.load(other_path)
    b = {_key(r): r for r in base.results if r.samples_ms}
    o = {_key(r): r for r in other.results if r.samples_ms}
    rows = []
    for key in [k for k in b if k in o]:
        sb = np.asarray(b[key].samples_ms, dtype=np.float64)
        so = np.asarray(o[key].samples_ms, dtype=np.float64)
        pb, po = float(np.median(sb)), float(np.median(so))
        low, high = median_ratio_interval(sb, so)
        label, via, threads, batch, clients = key
        rows.append(Comparison(label, via, threads, batch, clients=clients, base_p50=pb, other_p50=po, ratio=po / pb if pb > 0 else float("inf"), low=low,
                               high=high, base_e2e_p50=_e2e_p50(b[key]), other_e2e_p50=_e2e_p50(o[key]),
                               min_change=min_change))  # fmt: skip
    return ComparisonReport(
        base=base, other=other, base_path=str(base_path), other_path=str(other_path), rows=tuple(rows),
        only_base=tuple(_name(k) for k in b if k not in o), only_other=tuple(_name(k) for k in o if k not in b),
    )  # fmt: skip
