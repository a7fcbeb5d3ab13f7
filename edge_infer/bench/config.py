"""``BenchConfig``: what one benchmark run measures, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_infer.bench.timing import SETTLE_MAX_MS
from edge_infer.errors import BenchError
from edge_infer.threads import check_threads, default_threads


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """How to measure. ``runs`` warm runs per target (model-only, and as many end-to-end), or keep going for
    ``duration_s`` seconds per thread setting; targets take turns ``round_size`` runs at a time (interleaved)."""

    warmup: int = 10
    runs: int | None = 100
    duration_s: float | None = None
    threads: tuple[int, ...] = field(default_factory=lambda: (default_threads(),))
    clients: tuple[int, ...] = (1,)  # concurrent callers of one predictor; each makes every round's runs
    batch: int = 1
    round_size: int = 5
    e2e: bool = True
    memory: bool = True
    # Untimed pause before each target's turn when several targets share threads > 1, until the process is idle
    # (timing.settle), at most this long: the previous runtime's thread pool (ONNX Runtime, OpenMP) spin-waits after
    # its last run (55-100 ms on an Intel Xeon) and would steal cores from the next target.
    settle_ms: float = SETTLE_MAX_MS
    # The live loop (a video --source): frames in the model at once, each with threads / live_streams threads
    # (edge_infer.live, throughput mode); the model-only reference stays at the full thread count.
    live_streams: int = 1

    def __post_init__(self) -> None:
        if self.runs is not None and self.duration_s is not None:
            raise BenchError("give either runs or duration, not both")
        if self.runs is None and self.duration_s is None:
            raise BenchError("give runs or duration")
        if self.runs is not None and (isinstance(self.runs, bool) or self.runs < 1):
            raise BenchError(f"runs must be at least 1, got {self.runs}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise BenchError(f"duration must be more than 0 seconds, got {self.duration_s}")
        if self.warmup < 0:
            raise BenchError(f"warmup must be 0 or more, got {self.warmup}")
        if not self.threads:
            raise BenchError("threads must list at least one thread count")
        for t in self.threads:
            check_threads(t)
        if len(set(self.threads)) != len(self.threads):
            raise BenchError(f"threads lists a count twice: {','.join(map(str, self.threads))}")
        if not self.clients or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.clients):
            raise BenchError(f"clients must list whole numbers of at least 1, got {list(self.clients)}")
        if len(set(self.clients)) != len(self.clients):
            raise BenchError(f"clients lists a count twice: {','.join(map(str, self.clients))}")
        if self.batch < 1:
            raise BenchError(f"batch must be at least 1, got {self.batch}")
        if self.round_size < 1:
            raise BenchError(f"round size must be at least 1, got {self.round_size}")
        if self.settle_ms < 0:
            raise BenchError(f"settle time must be 0 or more, got {self.settle_ms}")
        if isinstance(self.live_streams, bool) or not isinstance(self.live_streams, int) or self.live_streams < 1:
            raise BenchError(f"streams must be a whole number of at least 1, got {self.live_streams!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "warmup": self.warmup,
            "runs": self.runs,
            "duration_s": self.duration_s,
            "threads": list(self.threads),
            "clients": list(self.clients),
            "batch": self.batch,
            "round_size": self.round_size,
            "e2e": self.e2e,
            "memory": self.memory,
            "settle_ms": self.settle_ms,
            "live_streams": self.live_streams,
        }


def parse_counts(text: str, option: str = "--threads") -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; a clear BenchError naming ``option`` for anything else."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise BenchError(f"{option} needs comma-separated counts, got {text!r}")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError as exc:
        raise BenchError(f"{option} needs comma-separated whole numbers, got {text!r}") from exc
    return values


def parse_threads(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; a clear BenchError for anything else."""
    return parse_counts(text, "--threads")
