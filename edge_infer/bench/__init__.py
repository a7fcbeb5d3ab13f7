"""``edge-infer bench``: on-device latency measured the way benchmark tools do it.

Load time, cold (first) inference, warm-up kept apart, then all targets interleaved in rounds; percentiles,
end-to-end latency from a decoded frame, peak memory of each target alone, machine facts, raw samples, versioned JSON.

    from edge_infer.bench import BenchConfig, benchmark
    report = benchmark(["m.onnx", "m.int8.onnx"], BenchConfig(runs=100, threads=(1, 2)), baseline=["eager"])
    print(report.to_json())
"""

from __future__ import annotations

from edge_infer.bench.api import benchmark, measure
from edge_infer.bench.compare import compare_results
from edge_infer.bench.config import BenchConfig
from edge_infer.bench.result import SCHEMA_VERSION, BenchReport, BenchResult, TargetFailure
from edge_infer.bench.stats import LatencyStats
from edge_infer.bench.target import BASELINES, VIAS, MeasureTarget, make_target

__all__ = [
    "SCHEMA_VERSION",
    "BASELINES",
    "VIAS",
    "BenchConfig",
    "BenchReport",
    "BenchResult",
    "LatencyStats",
    "MeasureTarget",
    "TargetFailure",
    "benchmark",
    "compare_results",
    "make_target",
    "measure",
]
