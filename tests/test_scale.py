"""``--engine ray`` and ``edge_infer.scale`` on a real local Ray (2 CPUs, no dashboard), shared by the module: the
same results as the local run, broken images as rows, an actor killed with SIGKILL mid-run (every input exactly
once), resume, and the bad inputs refused in one line before any cluster is involved."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ray")

from edge_infer.batch import input_key  # noqa: E402
from scale_support import assert_rows_match_local  # noqa: E402
from edge_infer.testing import write_fake_artifact  # noqa: E402

BROKEN = b"\xff\xd8\xff\xe0 this is not a JPEG"


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row of a JSON-lines or Parquet output folder."""
    if folder.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(folder).to_pylist()
    return [json.loads(line) for part in sorted(folder.glob("*.json")) for line in part.read_text().splitlines()]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray for the module (2 CPUs, no dashboard); the CLI runs join it with --ray-address."""
    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def fake_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 small random PNGs and one broken JPEG."""
    import cv2

    folder = tmp_path_factory.mktemp("ray-images")
    rng = np.random.default_rng(0)
    for i in range(120):
        cv2.imwrite(str(folder / f"im{i:03d}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(BROKEN)
    return folder


def test_ray_results_match_the_local_run(
    ray_address: str, default_onnx: Path, samples_dir: Path, tmp_path: Path
) -> None:
    """The real model: labels, class ids and scores (to 1e-5) of every input as the local run; a broken image and a
    missing file are rows with their error, as locally."""
    (tmp_path / "broken.jpg").write_bytes(BROKEN)
    inputs = [str(samples_dir), str(tmp_path / "broken.jpg"), str(tmp_path / "missing.jpg")]
    out = tmp_path / "r.parquet"
    r = cli("predict", default_onnx, *inputs, "--engine", "ray", "--ray-address", ray_address, "--out", out,
            "--batch-size", "4", "--top-k", "3")  # fmt: skip
    assert r.returncode == 1, r.stderr  # 1: two inputs failed, the rest predicted
    assert "Traceback" not in r.stderr and "(7 ok, 2 error(s))" in r.stderr, r.stderr
    rows = {input_key(row["input"]): row for row in read_rows(out)}
    assert_rows_match_local(rows, default_onnx, inputs, 9)


def test_predict_dataset_api_images_and_feature_rows(ray_address: str, tmp_path: Path) -> None:
    """The Python API on datasets made by hand: bad bytes become error rows; feature rows keep their columns."""
    import ray.data

    from edge_infer import scale
    from edge_infer.testing import fake_features

    artifact = write_fake_artifact(tmp_path / "img")
    import cv2

    _, png = cv2.imencode(".png", np.full((40, 40, 3), 200, dtype=np.uint8))
    images = ray.data.from_items([{"bytes": png.tobytes(), "path": "grey.png"}, {"bytes": BROKEN, "path": "bad.jpg"}])
    rows = {r["input"]: r for r in scale.predict_dataset(artifact, images, actors=1).take_all()}
    assert rows["grey.png"]["error"] is None and rows["grey.png"]["label"]
    assert rows["bad.jpg"]["error"].startswith("bad.jpg: ") and rows["bad.jpg"]["label"] is None

    # local files (rows of paths, the actor reads them) beside encoded bytes, in one dataset
    (tmp_path / "grey.png").write_bytes(png.tobytes())
    files = scale.read_images([str(tmp_path / "grey.png"), str(tmp_path / "gone.png")])
    mixed = {r["input"]: r for r in scale.predict_dataset(artifact, files.union(images), actors=1).take_all()}
    assert mixed[str(tmp_path / "grey.png")]["label"] == rows["grey.png"]["label"]
    assert mixed[str(tmp_path / "grey.png")]["score"] == pytest.approx(rows["grey.png"]["score"], abs=1e-6)
    assert mixed[str(tmp_path / "gone.png")]["error"] == f"{tmp_path / 'gone.png'}: file not found"
    assert mixed["bad.jpg"]["label"] is None and len(mixed) == 4

    tab = write_fake_artifact(tmp_path / "tab", task="tabular-classification")
    feats = [dict(r, id=i) for i, r in enumerate(fake_features(3))] + [{"a": -1.0, "b": 0.0, "c": 0.0, "id": 3}]
    out = {r["id"]: r for r in scale.predict_dataset(tab, ray.data.from_items(feats), actors=1).take_all()}
    assert [out[i]["prediction"] in ("low", "high") for i in range(3)] == [True] * 3
    assert set(out[0]["probabilities"]) == {"low", "high"} and out[0]["error"] is None
    assert out[3]["prediction"] is None and "a" in out[3]["error"]


def test_killed_actor_is_retried_every_input_once(ray_address: str, fake_images: Path, tmp_path: Path) -> None:
    """One predicting actor's process is SIGKILLed mid-run, at a known point: the fake model kills the first
    process that reaches its 3rd batch (``kill_once``), in the middle of the 61 batches of 2. Ray starts
    the actor again and retries its batch; every input is in the output exactly once. Then a resume after losing
    part files predicts only what is missing."""
    marker = tmp_path / "killed.pid"
    artifact = write_fake_artifact(tmp_path / "model", latency_ms=5, kill_after=3, kill_once=marker)
    out = tmp_path / "r.jsonl"
    r = cli("predict", artifact, fake_images, "--engine", "ray", "--ray-address", ray_address, "--out", out,
            "--actors", "2", "--batch-size", "2")  # fmt: skip
    assert marker.is_file(), f"no actor was killed: {r.stderr}"
    killed = int(marker.read_text())
    assert r.returncode == 1, r.stderr  # the broken image
    assert "Traceback" not in r.stderr and "(120 ok, 1 error(s))" in r.stderr, r.stderr
    names = [row["input"] for row in read_rows(out)]
    assert len(names) == len(set(names)) == 121
    import psutil

    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE

    parts = sorted(out.glob("*.json"))
    lost = {json.loads(line)["input"] for line in parts[-1].read_text().splitlines()}
    parts[-1].unlink()
    r = cli("predict", artifact, fake_images, "--engine", "ray", "--ray-address", ray_address, "--out", out,
            "--resume")  # fmt: skip
    assert f"wrote {len(lost)} result(s)" in r.stderr and f"{121 - len(lost)} input(s) were already" in r.stderr
    names = [row["input"] for row in read_rows(out)]
    assert len(names) == len(set(names)) == 121


def test_bad_input_is_one_line_before_any_cluster(tmp_path: Path, fake_images: Path) -> None:
    artifact = write_fake_artifact(tmp_path / "model")
    out = tmp_path / "r.jsonl"
    out.mkdir()
    (out / "part.json").write_text('{"input": "x.png", "error": null}\n')
    r = cli("predict", artifact, fake_images, "--engine", "ray", "--out", out)
    assert r.returncode == 2 and "already exists; pass --resume" in r.stderr
    assert [p.name for p in out.iterdir()] == ["part.json"]
    t0 = time.monotonic()
    r = cli("predict", artifact, fake_images, "--engine", "ray", "--out", tmp_path / "n.jsonl",
            "--ray-address", "127.0.0.1:9")  # fmt: skip
    assert r.returncode == 2 and "no Ray cluster at 127.0.0.1:9" in r.stderr and time.monotonic() - t0 < 20
    for extra, message in (([], "--out NAME.jsonl"), (["--out", tmp_path / "x.csv"], "unknown output suffix"),
                           (["--out", tmp_path / "y.jsonl", "--workers", "2"], "use --actors"),
                           (["--out", tmp_path / "y.jsonl", "--actors", "0"], "--actors must be at least 1")):
        r = cli("predict", artifact, fake_images, "--engine", "ray", *extra)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli("predict", artifact, fake_images, "--actors", "2")
    assert r.returncode == 2 and "options of --engine ray" in r.stderr


def test_ray_not_installed_names_the_extra(tmp_path: Path) -> None:
    artifact = write_fake_artifact(tmp_path / "model")
    code = ("import sys; sys.modules['ray'] = None; from edge_infer.cli.main import main; "
            f"sys.exit(main(['predict', {str(artifact)!r}, 'x.png', '--engine', 'ray', '--out', {str(tmp_path / 'o')!r}]))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "pip install 'edge-infer[ray]'" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_joblib_without_trust_is_refused(iris_artifacts: dict[str, Path], tmp_path: Path) -> None:
    r = cli("predict", iris_artifacts["joblib"], "x.png", "--engine", "ray", "--out", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "refusing to load a joblib file without trust" in r.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_private_local_ray_runs_the_job_without_idle_daemons(fake_images: Path, tmp_path: Path) -> None:
    """Without --ray-address the command starts its own Ray (the machine's cores) and stops it: every input once.
    That Ray is started without the autoscaler monitor and the log monitor (``_without_idle_daemons``: Ray's own
    node parameters, only for that ``ray.init``)."""
    from ray._private import parameter

    from edge_infer.scale.cluster import _without_idle_daemons

    with _without_idle_daemons():
        params = parameter.RayParams(num_cpus=1)
        assert params.no_monitor is True and params.include_log_monitor is False
        assert parameter.RayParams(no_monitor=False).no_monitor is False  # what the caller passes wins
    assert parameter.RayParams().no_monitor is False and parameter.RayParams.__name__ == "RayParams"

    artifact = write_fake_artifact(tmp_path / "model")
    out = tmp_path / "r.jsonl"
    r = cli("predict", artifact, fake_images, "--engine", "ray", "--out", out, "--no-progress")
    assert r.returncode == 1 and "(120 ok, 1 error(s))" in r.stderr and "Ray start-up" in r.stderr, r.stderr
    names = [row["input"] for row in read_rows(out)]
    assert len(names) == len(set(names)) == 121
