"""``LatencyStats``: percentiles, mean, spread of a list of latencies (milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edge_infer.errors import BenchError

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, kw_only=True)
class LatencyStats:
    """Summary of latency samples in ms. Percentiles interpolate linearly between order statistics (numpy's
    default); ``std`` is the sample standard deviation (n-1), 0 for one sample."""

    n: int
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> LatencyStats:
        a = np.asarray(samples, dtype=np.float64)
        if a.ndim != 1 or a.size == 0:
            raise BenchError("latency statistics need at least one sample")
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise BenchError("latency samples must be finite and non-negative")
        p50, p90, p95, p99 = (float(v) for v in np.percentile(a, PERCENTILES))
        std = float(a.std(ddof=1)) if a.size > 1 else 0.0
        return cls(
            n=int(a.size), p50=p50, p90=p90, p95=p95, p99=p99,
            mean=float(a.mean()), std=std, min=float(a.min()), max=float(a.max()),
        )  # fmt: skip

    def to_dict(self) -> dict[str, float | int]:
        return {k: (v if k == "n" else round(float(v), 4)) for k, v in asdict(self).items()}

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean): how noisy the run was."""
        return self.std / self.mean if self.mean > 0 else 0.0
