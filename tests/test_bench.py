"""edge-infer bench: statistics, config validation, interleaving, JSON schema, bad inputs, plots, memory, machine.

Timings are never asserted (they belong to benchmarks); counts, keys, order and errors are.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_infer.bench import BenchConfig, LatencyStats, MeasureTarget, benchmark
from edge_infer.bench.config import parse_threads
from edge_infer.bench.frames import load_frames
from edge_infer.bench.memory import probe
from edge_infer.bench.result import RESULT_KEYS, SCHEMA_VERSION, BenchReport, paired_ratio
from edge_infer.bench.runner import run_bench
from edge_infer.bench.timing import round_order
from edge_infer.bench.target import local_target, make_target
from edge_infer.cli.main import main
from edge_infer.errors import BenchError, SourceError, SpecError, UnknownNameError
from edge_infer.testing import FakeClassifier, fake_manifest
from edge_infer import load as ei_load

from conftest import needs_torch

STAT_KEYS = {"n", "p50", "p90", "p95", "p99", "mean", "std", "min", "max"}
FAST = ["--runs", "4", "--warmup", "1", "--round-size", "2", "--threads", "1", "--no-memory"]


# -- statistics -----------------------------------------------------------------------------------------------
def test_stats_small_sample_by_hand() -> None:
    s = LatencyStats.from_samples([4.0, 1.0, 3.0, 2.0])
    assert (s.n, s.min, s.max, s.mean, s.p50) == (4, 1.0, 4.0, 2.5, 2.5)
    assert s.std == pytest.approx(np.sqrt(5 / 3))  # sample std (n-1)
    assert s.p90 == pytest.approx(3.7)  # linear interpolation: 1 + 0.9 * 3 = 3.7th order statistic
    assert s.p99 == pytest.approx(3.97)


def test_stats_match_numpy_on_skewed_samples() -> None:
    rng = np.random.default_rng(1)
    a = rng.lognormal(2.0, 0.5, size=1001)
    s = LatencyStats.from_samples(a.tolist())
    for q in (50, 90, 95, 99):
        assert getattr(s, f"p{q}") == pytest.approx(np.percentile(a, q))
    assert s.p50 <= s.p90 <= s.p95 <= s.p99 <= s.max
    assert s.mean > s.p50  # a right tail pulls the mean up: why a mean alone hides the tail
    assert set(s.to_dict()) == STAT_KEYS


def test_stats_one_sample_and_bad_samples() -> None:
    one = LatencyStats.from_samples([7.5])
    assert one.std == 0.0 and one.p99 == 7.5
    for bad in ([], [1.0, float("nan")], [-1.0]):
        with pytest.raises(BenchError):
            LatencyStats.from_samples(bad)


# -- config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": 0}, "runs must be at least 1"),
        ({"threads": (0,)}, "threads must be at least 1"),
        ({"threads": (2, 2)}, "twice"),
        ({"warmup": -1}, "warmup"),
        ({"batch": 0}, "batch must be at least 1"),
        ({"runs": 5, "duration_s": 1.0}, "not both"),
        ({"runs": None, "duration_s": 0.0}, "duration"),
        ({"round_size": 0}, "round size"),
    ],
)
def test_config_refuses_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):  # BenchError is a SpecError; threads < 1 is SpecError everywhere
        BenchConfig(**kwargs)


def test_parse_threads() -> None:
    assert parse_threads("1, 2,4") == (1, 2, 4)
    for bad in ("", "a,b", "1.5"):
        with pytest.raises(BenchError):
            parse_threads(bad)


# -- interleaving ---------------------------------------------------------------------------------------------
def test_paired_ratio_ignores_a_spike_that_hit_one_side() -> None:
    fast = (1.0, 1.0, 1.1, 1.1, 1.0, 1.0)  # three rounds of two runs
    slow = (2.0, 2.0, 30.0, 30.0, 2.0, 2.0)  # twice as slow, plus a load spike in round 2
    assert paired_ratio(slow, fast, 2) == pytest.approx(2.0)
    assert paired_ratio(fast, fast, 2) == 1.0


def test_round_order_rotates() -> None:
    assert [round_order(3, r) for r in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]


def test_timed_and_timed_concurrent() -> None:
    from edge_infer.bench.timing import paused_gc, timed, timed_concurrent, timed_one

    calls: list[int] = []
    with paused_gc():
        samples = timed(lambda: calls.append(0), 7)
    assert len(samples) == 7 == len(calls) and all(s >= 0 for s in samples)
    assert timed_one(lambda: 42)[0] == 42
    seen: list[int] = []
    run = timed_concurrent(lambda i: seen.append(i) or i * 10, 10, 3)
    assert len(run.samples) == 10 == len(run.values) and sorted(set(seen)) == [0, 1, 2] and run.wall_s > 0
    assert sorted(seen).count(0) == 4 and sorted(set(run.values)) == [0, 10, 20]  # each call's value is kept
    assert timed_concurrent(lambda _i: None, None, 2, duration_s=0.05).samples  # kept calling until time was up

    def breaks(i: int) -> None:
        if i == 1:
            raise RuntimeError("client 1 broke")

    with pytest.raises(RuntimeError, match="client 1 broke"):
        timed_concurrent(breaks, 100, 2)
    for bad in ({"clients": 0}, {"duration_s": 1.0}):
        with pytest.raises(BenchError):
            timed_concurrent(lambda _i: None, 5, **{"clients": 1, **bad})  # type: ignore[arg-type]


def test_concurrent_clients_share_one_predictor(tmp_path: Path) -> None:
    """N clients call one predictor at once: every call is a sample, throughput is calls over wall time, and a
    model that sleeps (releases the GIL, as a real runtime does) serves 4 clients faster than 1 in wall time."""
    from edge_infer.testing import write_fake_artifact

    fake = local_target(str(write_fake_artifact(tmp_path, latency_ms=5.0)))
    config = BenchConfig(runs=4, warmup=1, round_size=2, threads=(1,), clients=(1, 4), memory=False)
    run = run_bench([fake], config, load_frames("synthetic:64x48"))
    assert not run.failures
    one, four = sorted(run.results, key=lambda r: r.clients)
    assert (one.clients, len(one.samples_ms), one.wall_s) == (1, 4, None)
    assert (four.clients, len(four.samples_ms), len(four.e2e_samples_ms)) == (4, 16, 16)
    assert four.wall_s is not None and four.throughput_ips == pytest.approx(16 / four.wall_s)
    assert four.throughput_ips > one.throughput_ips  # 4 sleeping calls overlap
    assert BenchConfig(clients=(1, 8)).to_dict()["clients"] == [1, 8]
    for bad in ((), (0,), (2, 2)):
        with pytest.raises(BenchError, match="clients"):
            BenchConfig(clients=bad)


def test_cli_clients_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_infer.testing import write_fake_artifact

    fake = write_fake_artifact(tmp_path, latency_ms=1.0)
    out = tmp_path / "r.json"
    assert main(["bench", str(fake), *FAST, "--clients", "1,3", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "local x3" in table and "N concurrent clients" in table
    doc = BenchReport.load(out)
    assert sorted(r.clients for r in doc.results) == [1, 3]
    assert main(["bench", str(fake), *FAST, "--clients", "two"]) == 2
    assert "--clients needs comma-separated whole numbers, got 'two'" in capsys.readouterr().err


def test_raw_session_baseline_beside_the_artifact(default_onnx: Path, tmp_path: Path) -> None:
    """--baseline onnxruntime-session: the model file on a bare InferenceSession, same outputs, timed alike."""
    from edge_infer.bench.raw import SessionClassifier, session_target
    from edge_infer.artifact import Artifact

    report = benchmark([str(default_onnx)], BenchConfig(runs=4, warmup=1, round_size=2, threads=(1,), memory=False),
                       baseline=["onnxruntime-session"], source="synthetic:320x240")  # fmt: skip
    assert not report.errors
    by = {r.backend: r for r in report.results}
    assert set(by) == {"onnxruntime", "onnxruntime-session"} and by["onnxruntime-session"].label.endswith(
        "(raw InferenceSession)")
    art = Artifact.read(default_onnx)
    with ei_load(default_onnx, backend="onnxruntime") as ours, SessionClassifier(art, threads=1) as raw:
        x = ours.preprocess(np.zeros((48, 64, 3), np.uint8))
        np.testing.assert_allclose(raw.run(x), ours.run(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(BenchError, match="no such model file"):
        session_target(default_onnx, model=tmp_path / "missing.onnx")


def test_runner_interleaves_targets_round_by_round(tmp_path: Path) -> None:
    from edge_infer.testing import write_fake_artifact

    a = local_target(str(write_fake_artifact(tmp_path, latency_ms=0.2)))
    b = dataclasses.replace(a, label="second copy")
    config = BenchConfig(runs=5, warmup=2, round_size=2, threads=(1,), memory=False)
    run = run_bench([a, b], config, load_frames("synthetic:320x240"))
    assert not run.failures
    # 5 runs in chunks of 2 -> 3 rounds; each round visits both targets, the first one rotating
    assert run.trace == [(a.label, 1, 0), (b.label, 1, 0), (b.label, 1, 1), (a.label, 1, 1),
                         (a.label, 1, 2), (b.label, 1, 2)]  # fmt: skip
    for r in run.results:
        assert len(r.samples_ms) == 5 and len(r.e2e_samples_ms) == 5 and len(r.warmup_samples_ms) == 2
        assert r.rounds == 3 and r.cold_ms > 0 and r.load_ms > 0


def test_a_target_failing_mid_run_does_not_stop_the_others(tmp_path: Path) -> None:
    from edge_infer.testing import write_fake_artifact

    good = local_target(str(write_fake_artifact(tmp_path)))

    class BreaksLater(FakeClassifier):
        """A model that starts failing after a few calls (a device that falls over)."""

        def run(self, batch: np.ndarray) -> np.ndarray:
            if self.calls >= 3:
                raise RuntimeError("device went away")
            return super().run(batch)

    bad = dataclasses.replace(good, label="flaky", open=lambda threads: BreaksLater(fake_manifest(), threads=threads))
    run = run_bench([good, bad], BenchConfig(runs=4, warmup=0, round_size=2, threads=(1,)), load_frames())
    assert [r.label for r in run.results] == [good.label]
    assert len(run.results[0].samples_ms) == 4
    [failure] = run.failures
    assert failure.label == "flaky" and "device went away" in failure.error


# -- CLI: JSON schema, table, bad inputs ----------------------------------------------------------------------
def test_cli_json_schema_and_saved_file(default_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    code = main(["bench", str(default_onnx), *FAST, "--batch", "2", "--json", "--out", str(out),
                 "--backend", "onnxruntime"])  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text())
    assert BenchReport.load(out).to_dict() == doc  # read back, it is the report written
    assert doc["schema_version"] == SCHEMA_VERSION and doc["kind"] == "latency"
    assert {"machine", "results", "config", "source", "errors", "load_average", "created"} <= set(doc)
    assert {"cpu_model", "arch", "cores_physical", "cores_logical", "isa", "memory_total_mb", "libraries"} <= set(
        doc["machine"]
    )
    assert "onnxruntime" in doc["machine"]["libraries"]
    [r] = doc["results"]
    assert set(RESULT_KEYS) <= set(r)
    assert set(r["latency_ms"]) == STAT_KEYS and set(r["e2e_latency_ms"]) == STAT_KEYS
    assert (r["format"], r["backend"], r["threads"], r["batch"], r["via"]) == ("onnx", "onnxruntime", 1, 2, "local")
    assert len(r["samples_ms"]) == 4 and len(r["warmup_samples_ms"]) == 1 and len(r["e2e_samples_ms"]) == 4
    assert r["size_bytes"] == default_onnx.stat().st_size
    assert r["ratio_to_fastest"] == 1.0
    assert r["throughput_ips"] == pytest.approx(2 * 1000 / r["latency_ms"]["mean"], rel=1e-3)
    # the end-to-end time contains the preprocessing that the model-only time leaves out
    assert r["e2e_latency_ms"]["min"] > r["preprocess_ms"]["min"]


def test_cli_missing_artifact_among_several(
    default_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gone.onnx"
    code = main(["bench", str(missing), str(default_onnx), *FAST, "--plot", str(tmp_path / "p.png")])
    captured = capsys.readouterr()
    assert code == 1  # partial: one measured, one reported
    assert "gone.onnx" in captured.err and "not found" in captured.err
    assert "x fastest" in captured.out and "1.00x" in captured.out and "ERROR" in captured.out
    png = (tmp_path / "p.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--runs", "0"], "runs must be at least 1"),
        (["--threads", "0"], "threads must be at least 1"),
        (["--threads", "two"], "--threads"),
        (["--batch", "0"], "batch must be at least 1"),
        (["--source", "no/such/camera"], "no/such/camera: no such file or folder"),
        (["--source", "synthetic:10x"], "synthetic"),
        (["--via", "carrier-pigeon"], "unknown via 'carrier-pigeon'"),
        (["--baseline", "jax"], "unknown baseline 'jax'"),
    ],
)
def test_cli_bad_input_is_one_line(
    default_onnx: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", str(default_onnx), "--no-memory", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_cli_nothing_measurable_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "a.onnx" in err and "b.onnx" in err


# -- sources, memory, baseline --------------------------------------------------------------------------------
def test_frames_from_folder_and_synthetic(samples_dir: Path) -> None:
    frames = load_frames(str(samples_dir), count=3)
    assert len(frames.images) == 3 and all(im.dtype == np.uint8 and im.shape[2] == 3 for im in frames.images)
    synth = load_frames("synthetic:64x32", count=2)
    assert [im.shape for im in synth.images] == [(32, 64, 3), (32, 64, 3)]
    assert synth.describe() == {"spec": "synthetic:64x32", "frames": 2, "sizes": ["64x32"]}
    with pytest.raises(SourceError):
        load_frames(str(samples_dir / "nothing-here"))


def test_memory_probe_in_fresh_process(default_onnx: Path) -> None:
    mem = probe(("--artifact", str(default_onnx)), 1, 1)
    assert "error" not in mem, mem
    # the weights alone are ~18 MB of float32; the process holds Python + onnxruntime besides
    assert mem["peak_rss_mb"] > mem["model_rss_mb"] > 10
    assert probe(("--artifact", "/no/such.onnx"), 1, 1)["error"].startswith("memory probe failed")


@needs_torch
def test_eager_baseline_in_the_same_run(default_onnx: Path) -> None:
    config = BenchConfig(runs=2, warmup=0, round_size=1, threads=(1,), memory=False)
    report = benchmark([str(default_onnx)], config, baseline=["eager"])
    assert not report.errors
    formats = {r.format: r for r in report.results}
    assert set(formats) == {"onnx", "eager"}
    assert formats["eager"].backend == "torch" and len(formats["eager"].samples_ms) == 2
    assert min(r.ratio_to_fastest for r in report.results) == 1.0


def test_unknown_via_is_refused(default_onnx: Path) -> None:
    with pytest.raises(UnknownNameError):
        make_target(str(default_onnx), "pigeon")
    assert isinstance(local_target(str(default_onnx)), MeasureTarget)


# -- tabular models -------------------------------------------------------------------------------------------
def test_tabular_models_are_benched_on_feature_rows(
    iris_artifacts: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ONNX vs joblib (needs --trust) on synthetic rows within the manifest's rules, memory measured alike."""
    out = tmp_path / "r.json"
    with_memory = [a for a in FAST if a != "--no-memory"]
    code = main(["bench", str(iris_artifacts["onnx"]), str(iris_artifacts["joblib"]), "--trust", *with_memory,
                 "--batch", "3", "--out", str(out)])  # fmt: skip
    table = capsys.readouterr().out
    assert code == 0, table
    assert "rows: synthetic" in table and "feature row -> validation" in table
    doc = BenchReport.load(out).to_dict()
    assert doc["source"] == {"spec": "synthetic", "kind": "rows", "rows": 8, "features": 4} and not doc["errors"]
    by = {r["format"]: r for r in doc["results"]}
    assert set(by) == {"onnx", "joblib"}
    for r in by.values():
        assert r["latency_ms"]["p50"] > 0 and r["e2e_latency_ms"]["p50"] > 0 and r["peak_rss_mb"] > 0, r["memory"]


def test_tabular_bench_inputs_and_refusals(iris_artifacts: dict[str, Path], default_onnx: Path, tmp_path: Path) -> None:
    from edge_infer.bench.api import benchmark
    from edge_infer.bench.config import BenchConfig
    from edge_infer.errors import BenchError, SourceError

    config = BenchConfig(warmup=1, runs=4, round_size=2, threads=(1,), memory=False)
    rows = tmp_path / "rows.csv"
    rows.write_text("petal width (cm),petal length (cm),sepal width (cm),sepal length (cm)\n0.2,1.4,3.5,5.1\n")
    report = benchmark([str(iris_artifacts["onnx"])], config, source=str(rows))
    assert report.source["rows"] == 1 and len(report.results) == 1
    with pytest.raises(BenchError, match="image and tabular models cannot be timed in one run"):
        benchmark([str(iris_artifacts["onnx"]), str(default_onnx)], config)
    with pytest.raises(SourceError, match="a tabular model takes 'synthetic' or a CSV file"):
        benchmark([str(iris_artifacts["onnx"])], config, source="samples")
    report = benchmark([str(iris_artifacts["joblib"])], config)  # no trust: refused, reported, nothing run
    assert not report.results and "refusing to load a joblib file without trust" in report.errors[0].error


def _saved_run(path: Path, samples: dict[str, list[float]], cpu: str = "AMD EPYC") -> Path:
    from edge_infer.bench import BenchReport, BenchResult

    results = tuple(
        BenchResult(artifact=f"{label}.onnx", label=label, format="onnx", backend="onnxruntime", threads=1, batch=1,
                    via="local", load_ms=1.0, cold_ms=1.0, samples_ms=tuple(s))
        for label, s in samples.items()
    )  # fmt: skip
    machine = {"cpu_model": cpu, "arch": "x86_64", "cores_logical": 2}
    BenchReport(created="2026-11-24T00:00:00+00:00", config={}, source={}, machine=machine,
                load_average={"before": [0.5, 0.5, 0.5]}, results=results).save(path)  # fmt: skip
    return path


def test_compare_two_saved_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    noise = lambda center: list(center + rng.normal(0, 0.1, 200))  # noqa: E731
    base = _saved_run(tmp_path / "a.json", {"m": noise(10.0), "same": noise(5.0), "old": noise(1.0)})
    other = _saved_run(tmp_path / "b.json", {"m": noise(12.0), "same": noise(5.05), "new": noise(1.0)}, cpu="Pi")
    from edge_infer.bench.compare import compare_results

    report = compare_results(base, other)
    by = {c.label: c for c in report.rows}
    assert by["m"].ratio == pytest.approx(1.2, rel=0.01) and by["m"].verdict == "1.20x slower"
    assert by["m"].low < 1.2 < by["m"].high
    assert by["same"].verdict in ("same (within 5%)", "no significant change")  # a 1% change is within noise
    assert compare_results(base, other, min_change=0.0).rows[1].verdict == "1.01x slower"
    assert report.only_base == ("old (local, 1 thread(s), batch 1)",) and report.only_other[0].startswith("new")
    assert not report.same_machine
    assert main(["compare", str(other), str(base)]) == 0
    out = capsys.readouterr().out
    assert "1.20x faster" in out and "different machines" in out and "only in base: new" in out
    assert main(["compare", str(base), str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read (No such file or directory)" in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"schema_version": 1, "kind": "tabular-bench", "rows": []}')
    assert main(["compare", str(base), str(tmp_path / "other.json")]) == 1  # readable, nothing in common
    assert "no target was measured in both runs" in capsys.readouterr().out


def test_schema_1_results_read_back_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A result recorded by edge-infer 0.1.0 (schema 1: no kind, clients, wall time) loads and compares with one of
    today's schema."""
    recorded = Path(__file__).parents[1] / "benchmarks/results/amd-epyc-2c-x86-64/default_model.run1.json"
    assert json.loads(recorded.read_text())["schema_version"] == 1
    old = BenchReport.load(recorded)
    assert old.kind == "latency" and old.results and all(r.clients == 1 for r in old.results)
    assert all(len(r.samples_ms) == r.latency.n for r in old.results)
    again = tmp_path / "again.json"
    old.save(again)
    assert BenchReport.load(again).to_dict() == old.to_dict()
    assert main(["compare", str(recorded), str(again)]) == 0
    assert "1.000" in capsys.readouterr().out  # the same samples: ratio 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 7, "results": []}))
    with pytest.raises(BenchError, match=r"bad.json: not an edge-infer bench result \(schema 7; this edge-infer reads"):
        BenchReport.load(bad)
