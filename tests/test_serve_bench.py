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


def test_measure_http_overhead(tmp_path: Path, photo: Path) -> None:
    """Every request form at 1 and 2 clients, in-process vs served; each answer's stages are kept; the report is
    the same versioned JSON as every other measurement."""
    from edge_infer.bench import BenchReport
    from edge_infer.bench.overhead import STAGES, measure_http_overhead, overhead_table
    from edge_infer.testing import write_fake_artifact

    fake = write_fake_artifact(tmp_path)
    forms = ["multipart", "raw", "json", "tutorial", "health", "socket", "socket-multipart", "session", "stdlib",
             "remote"]  # fmt: skip
    report = measure_http_overhead(fake, ["fastapi"], forms=forms, clients=[1, 2], requests=4, rounds=2, warmup=2,
                                   image=photo, threads=1)  # fmt: skip
    cells = {(r.label, r.extra["form"], r.clients): r for r in report.results}
    assert set(cells) == {("local", "bytes", 1), ("local", "bytes", 2)} | {
        ("fastapi", f, c) for f in forms for c in (1, 2)}  # fmt: skip
    assert all(len(r.samples_ms) == 4 and r.extra["statuses"] == {"200": 4} for r in cells.values())
    for form in [f for f in forms if f != "health"]:
        stages = cells[("fastapi", form, 1)].extra["stages_p50_ms"]
        want = {"read", "parse", "queue", "predict", "preprocess", "inference", "outside", "client_cpu"}
        assert want | ({"encode"} if form != "remote" else set()) <= set(stages)  # remote: no Server-Timing header
        assert 0 < stages["client_cpu"] < cells[("fastapi", form, 1)].latency.p50
        assert [s for s in stages if s in STAGES] == [s for s in STAGES if s in stages] and "server" in stages
        assert cells[("fastapi", form, 1)].extra["server_p50_ms"] > 0
        assert cells[("fastapi", form, 1)].extra["hop_ratio_p50"] >= 1  # a round trip holds its server's predict()
    assert {"preprocess", "inference"} <= set(cells[("local", "bytes", 1)].extra["stages_p50_ms"])
    assert "server_p50_ms" not in cells[("local", "bytes", 1)].extra
    overhead = report.extra["overhead"]
    assert {(o["target"], o["form"], o["clients"]) for o in overhead} == {("fastapi", f, c) for f in forms
                                                                          for c in (1, 2)}  # fmt: skip
    table = overhead_table(report)
    assert "tutorial" in table and "outside" in table and report.kind == "http-overhead"
    again = BenchReport.from_json(report.to_json())  # the same versioned JSON as every other measurement
    assert again.to_dict() == report.to_dict()


def test_server_timing_header_parsing() -> None:
    from edge_infer.bench.http_forms import answer_stages, parse_server_timing

    assert parse_server_timing("read;dur=0.12, queue;dur=0.031,encode;desc=x;dur=2, bad;dur=x, nodur") == {
        "read": 0.12, "queue": 0.031, "encode": 2.0}  # fmt: skip
    body = {"server_timings_ms": {"read": 1.0, "predict": 9.0, "total": 10.0}, "timings_ms": {"inference": 7.0,
            "total": 8.5}}  # fmt: skip
    assert answer_stages(200, body, "encode;dur=0.5, total;dur=10.5") == {
        "read": 1.0, "predict": 9.0, "encode": 0.5, "inference": 7.0, "server": 10.5}  # fmt: skip
    assert answer_stages(200, body, None)["server"] == 10.0 and answer_stages(503, body, None) == {}


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
