"""``edge-infer bench --source VIDEO``: the live loop per target (FPS, drops, capture-to-result latency) and the
split of each frame's time (decode, preprocess, model, and for HTTP the hop) in the JSON, the table and the plot.
The fake model stands in for the network; the video is real (photos panned across, written with OpenCV). Keys,
counts and invariants are asserted, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_infer.bench import BenchConfig, BenchReport, benchmark
from edge_infer.cli.main import main
from edge_infer.errors import BenchError
from edge_infer.testing import write_fake_artifact

FAST = ["--runs", "6", "--warmup", "1", "--round-size", "3", "--threads", "1", "--no-memory"]
LIVE_KEYS = {"pace", "streams", "rounds", "frames", "captured", "dropped", "failed", "fps", "fps_rounds", "latency_ms",
             "cpu_ms_per_frame", "model_p50_ms", "fps_x_model", "drop_rate", "frames_per_round",
             "latency_samples_ms"}  # fmt: skip


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_infer.build import write_sample_video

    return write_sample_video(tmp_path_factory.mktemp("clip") / "pan.mp4", frames_per_photo=4)  # 16 frames


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_artifact(tmp_path_factory.mktemp("fake"), latency_ms=1.0)


def test_bench_video_json_has_the_live_loop_and_the_split(
    fake: Path, video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    assert main(["bench", str(fake), "--source", str(video), *FAST, "--out", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    [r] = doc["results"]
    assert r["split_from"] == "live loop"
    assert set(r["split_ms"]) == {"decode", "preprocess", "model"}  # no hop in this process
    assert all(v >= 0 for v in r["split_ms"].values())
    assert set(r["split_samples_ms"]) == set(r["split_ms"])
    live = r["live"]
    assert set(live) == LIVE_KEYS and live["pace"] == "fast" and live["rounds"] == 2
    assert live["frames"] == 2 * 6 and live["dropped"] == 0 and live["failed"] == 0  # fast: every frame, 6 a turn
    assert len(live["latency_samples_ms"]) == live["frames"] == len(r["split_samples_ms"]["model"])
    assert set(live["latency_ms"]) == {"p50", "p90", "p99", "max"} and live["fps"] > 0
    assert set(live["cpu_ms_per_frame"]) == {"capture", "preprocess", "model and rest", "total"}
    assert "where the time goes" in text and "latency p50" in text and "FPS" in text and "x model" in text
    assert png.read_bytes().startswith(b"\x89PNG")
    again = BenchReport.load(out)  # read back: the split and the live run survive
    assert again.results[0].split_ms == r["split_ms"] and again.results[0].live == live


def test_bench_without_a_video_splits_the_end_to_end_calls(fake: Path, samples_dir: Path) -> None:
    report = benchmark([str(fake)], BenchConfig(runs=4, warmup=1, threads=(1,), memory=False),
                       source=str(samples_dir / "china.jpg"))  # fmt: skip
    [r] = report.results
    assert r.split_from == "end-to-end calls" and not r.live
    assert set(r.split_ms) == {"decode", "preprocess", "model"}  # an image file is decoded by the source
    synthetic = benchmark([str(fake)], BenchConfig(runs=4, warmup=1, threads=(1,), memory=False))
    assert set(synthetic.results[0].split_ms) == {"preprocess", "model"}  # frames made in memory: no decode


def test_bench_native_pace_plays_the_video_at_its_rate(fake: Path, video: Path) -> None:
    config = BenchConfig(runs=4, warmup=1, threads=(1,), memory=False)
    [r] = benchmark([str(fake)], config, source=str(video), live_pace="native").results
    assert r.live["pace"] == "native" and r.live["frames"] + r.live["dropped"] <= r.live["captured"]


def test_bench_video_over_http_shows_the_hop(fake: Path, video: Path) -> None:
    config = BenchConfig(runs=3, warmup=1, threads=(1,), memory=False, round_size=3)
    report = benchmark([str(fake)], config, source=str(video), vias=["http"])
    assert not report.errors, report.errors
    [r] = report.results
    assert r.via == "http" and set(r.split_ms) == {"decode", "preprocess", "model", "hop"}
    assert r.live["frames"] == 6 and r.split_from == "live loop"


@pytest.mark.parametrize(
    ("source", "message"),
    [("missing.mp4", "missing.mp4: no such file or folder"), ("junk.mp4", "cannot open as a video")],
)
def test_bench_bad_video_is_one_line(fake: Path, tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 5000)
    r = subprocess.run([sys.executable, "-m", "edge_infer", "bench", str(fake), "--source", str(tmp_path / source),
                        *FAST], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_samples_video_refuses_a_name_it_cannot_write(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "edge_infer", "samples", "--video", str(tmp_path / "clip.gif")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "give a .mp4 file name" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_live_loop_benchmark_script_writes_bench_json(fake: Path, video: Path, tmp_path: Path) -> None:
    """benchmarks/live_loop.py for real, on the fake model (no ONNX Runtime: no second, non-spinning session)."""
    out = tmp_path / "live_loop.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "live_loop.py"
    r = subprocess.run([sys.executable, str(script), str(fake), "--video", str(video), "--backend", "fake",
                        "--threads", "1", "--repeat", "1", "--turns", "2", "--frames", "8", "--model-runs", "5",
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    report = BenchReport.load(out)
    assert report.kind == "live-loop" and report.load_average["before"]
    labels = [x.label for x in report.results]
    assert labels == ["model alone, default (repeat 1)", "pipelined loop, default (repeat 1)",
                      "sequential loop, default (repeat 1)"]  # fmt: skip
    [rep] = report.extra["repeats"]
    assert {"ratio", "sequential_ratio", "cpu_ms_per_frame", "stages_p50_ms", "goal_met"} <= set(rep)
    assert len(report.results[0].samples_ms) == 2 * 5 and len(report.results[1].samples_ms) == 2 * 7


def test_bench_video_with_two_streams_plays_every_frame(fake: Path, video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(fake), "--source", str(video), *FAST, "--threads", "2", "--streams", "2"]) == 0
    assert "2 frames in the model at once" in capsys.readouterr().out
    config = BenchConfig(runs=6, warmup=1, threads=(2,), memory=False, live_streams=2)
    [r] = benchmark([str(fake)], config, source=str(video)).results
    assert r.live["streams"] == 2 and r.live["frames"] == 2 * 6 and r.live["dropped"] == 0
    with pytest.raises(BenchError, match="streams must be"):
        BenchConfig(live_streams=0)


def test_bench_streams_above_the_thread_count_is_a_listed_failure(fake: Path, video: Path) -> None:
    config = BenchConfig(runs=4, warmup=1, threads=(1,), memory=False, live_streams=2)
    report = benchmark([str(fake)], config, source=str(video))
    [r] = report.results
    assert not r.live  # the loop did not play; the model-only and end-to-end results are still there
    [failure] = report.errors
    assert "live loop" in failure.error and "2 streams need at least 2 threads, got 1" in failure.error
