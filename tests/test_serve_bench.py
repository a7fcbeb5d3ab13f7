"""Device vs server latency: bench --via http/flask, the overhead measurement, and the slow soak and fuzz runs."""

from __future__ import annotations

from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from serve_support import FRAMEWORKS  # noqa: E402


def test_bench_via_http_and_flask(default_onnx: Path) -> None:
    from edge_infer.bench import BenchConfig, benchmark

    report = benchmark([str(default_onnx)], BenchConfig(runs=3, warmup=1, round_size=3, threads=(1,), memory=False),
                       source="synthetic:320x240", vias=["local", "http", "flask"])  # fmt: skip
    assert not report.errors, report.errors
    assert sorted(r.via for r in report.results) == ["flask", "http", "local"]
    for r in report.results:
        assert len(r.samples_ms) == 3 and len(r.e2e_samples_ms) == 3


def test_measure_http_overhead(default_onnx: Path, photo: Path) -> None:
    from edge_infer.bench import BenchReport
    from edge_infer.bench.overhead import measure_http_overhead, overhead_table

    report = measure_http_overhead(default_onnx, ["fastapi"], clients=[1, 2], requests=4, rounds=2, warmup=2,
                                   image=photo, threads=1)  # fmt: skip
    cells = {(r.label, r.clients): r for r in report.results}
    assert set(cells) == {("local", 1), ("local", 2), ("fastapi", 1), ("fastapi", 2)}
    assert all(len(r.samples_ms) == 4 and r.extra["statuses"] == {"200": 4} for r in cells.values())
    assert cells[("fastapi", 1)].extra["server_p50_ms"] > 0 and "server_p50_ms" not in cells[("local", 1)].extra
    overhead = report.extra["overhead"]
    assert {(o["target"], o["clients"]) for o in overhead} == {("fastapi", 1), ("fastapi", 2)}
    assert "fastapi" in overhead_table(report) and report.kind == "http-overhead"
    again = BenchReport.from_json(report.to_json())  # the same versioned JSON as every other measurement
    assert again.to_dict() == report.to_dict()


# -- slow: the soak and the fuzz run of the issue (scripts under benchmarks/) ------------------------------------------
def _bench_script(name: str) -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_soak_32_clients_for_a_minute(framework: str, default_onnx: Path, photo: Path) -> None:
    pytest.importorskip("psutil")
    report = _bench_script("serve_soak").soak(str(default_onnx), framework, 32, 60.0, photo.read_bytes(), 120.0)  # type: ignore[attr-defined]
    (result,) = report.results
    assert result.extra["statuses"] == {"200": result.extra["requests"]} and result.samples_ms, result.extra
    assert report.kind == "serve-soak" and report.extra["pass"]["memory_flat"], report.extra["server_rss_mb"]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_schemathesis_fuzz(framework: str, default_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    report = tmp_path / "fuzz.txt"
    rc = _bench_script("serve_fuzz").main(  # type: ignore[attr-defined]
        [str(default_onnx), "--framework", framework, "--max-examples", "50", "--report", str(report)]
    )
    assert rc == 0, report.read_text()[-3000:]
