"""The engines beside ONNX Runtime: OpenVINO on the same .onnx files, ``--backend`` everywhere, ``--backends all``.

Real engines on the default model's artifact (exported once per session); nothing is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from edge_infer.backends import get_backend, runnable_backends
from edge_infer.formats import get_format
from edge_infer.testing import write_fake_artifact

needs_openvino = pytest.mark.skipif(not get_backend("openvino").installed, reason="needs the openvino extra")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip


@pytest.fixture()
def ov_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGE_INFER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "openvino"


@needs_openvino
def test_openvino_computes_what_onnxruntime_computes(default_onnx: Path, samples_dir: Path, ov_cache: Path) -> None:
    photos = sorted(samples_dir.iterdir())
    with ei.load(default_onnx, threads=1, backend="onnxruntime") as ort, \
            ei.load(default_onnx, threads=1, backend="openvino") as ov:  # fmt: skip
        assert ov.backend == "openvino" and ort.backend == "onnxruntime"
        for photo in photos:
            a, b = ort.run(ort.preprocess(photo)), ov.run(ov.preprocess(photo))
            assert a.shape == b.shape and np.abs(a - b).max() < 1e-3, photo.name
            assert int(a.argmax()) == int(b.argmax()), photo.name


@needs_openvino
def test_openvino_is_configured_faithful_and_explicit(default_onnx: Path, ov_cache: Path) -> None:
    with ei.load(default_onnx, threads=1, backend="openvino") as ov:
        compiled = ov.compiled  # type: ignore[attr-defined]
        assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("f32", "<Type: 'float32'>")
        assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
        assert "LATENCY" in str(compiled.get_property("PERFORMANCE_HINT"))


@needs_openvino
def test_openvino_second_load_comes_from_the_compiled_model_cache(default_onnx: Path, ov_cache: Path) -> None:
    with ei.load(default_onnx, threads=1, backend="openvino") as first:
        assert not first.loaded_from_cache  # type: ignore[attr-defined]
    assert any(ov_cache.iterdir())
    with ei.load(default_onnx, threads=1, backend="openvino") as second:
        assert second.loaded_from_cache  # type: ignore[attr-defined]
        assert second.predict(np.full((64, 64, 3), 90, dtype=np.uint8)).label


def test_an_onnx_artifact_lists_its_engines_by_task() -> None:
    onnx = get_format("onnx")
    assert onnx.backends[:2] == ("onnxruntime", "openvino")
    assert "openvino" not in runnable_backends(onnx, "tabular-classification")  # skl2onnx ML ops: ONNX Runtime only


def test_backend_that_cannot_run_the_format_is_one_line_naming_those_that_can(tmp_path: Path) -> None:
    fake = write_fake_artifact(tmp_path)
    r = cli("predict", fake, tmp_path / "x.jpg", "--backend", "openvino")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "backend 'openvino' cannot run fake artifacts; backends that can: fake" in r.stderr


def test_tabular_onnx_on_openvino_names_the_backend_that_can(iris_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ei.SpecError, match="cannot run onnx tabular-classification artifacts; backends that can: "
                                           "onnxruntime$"):  # fmt: skip
        ei.load(iris_artifacts["onnx"], backend="openvino")


def test_a_missing_engine_is_one_line_naming_its_extra() -> None:
    for name in ("openvino",):
        msg = str(get_backend(name).unavailable(f"running onnx artifacts on {name}"))
        assert "\n" not in msg and f"pip install 'edge-infer[{name}]'" in msg


@needs_openvino
def test_bench_backends_all_runs_every_engine_of_the_artifact(default_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    r = cli("bench", default_onnx, "--backends", "all", "--runs", "2", "--warmup", "0", "--threads", "1",
            "--no-memory", "--source", "samples", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    by = {x["backend"]: x for x in report["results"]}
    assert set(by) >= {"onnxruntime", "openvino"}
    for row in by.values():
        agreement = row["target"]["top1_agreement"]
        assert agreement["reference"] == "onnx (onnxruntime)" and agreement["value"] == 1.0, agreement
    assert "top-1" in r.stdout


def test_backends_option_names_are_checked_before_anything_loads(tmp_path: Path) -> None:
    from edge_infer.bench.engines import parse_backends

    assert parse_backends("all") == ("all",) and parse_backends("onnxruntime, openvino") == ("onnxruntime", "openvino")
    with pytest.raises(ei.UnknownNameError, match="did you mean 'openvino'"):
        parse_backends("openvin")
    r = cli("bench", write_fake_artifact(tmp_path), "--backends", "all", "--backend", "fake", "--runs", "1")
    assert r.returncode == 2 and "not both" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_bench_backends_on_a_model_free_artifact_labels_each_engine(tmp_path: Path) -> None:
    from edge_infer.bench import BenchConfig, benchmark

    fake = write_fake_artifact(tmp_path)
    report = benchmark([str(fake)], BenchConfig(runs=2, warmup=0, threads=(1,), memory=False), backends=["all"])
    [row] = report.results
    assert row.label == f"{fake.name} (fake)" and row.extra["top1_agreement"]["value"] == 1.0
