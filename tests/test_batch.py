"""Batch runs: results written as they are produced, a killed run resumed with every image exactly once, several
workers giving the same results as one, unreadable files reported and skipped.

The logic runs on the fake model (``edge_infer.testing``), which loads in the workers as a real artifact does and
predicts the same for the same image; the real model checks the table and JSON shapes of a folder run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_infer.batch import ResultsFile
from edge_infer.errors import SpecError

N_IMAGES = 500
CORRUPT = "img_0250_corrupt.jpg"


def cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


@pytest.fixture(scope="module")
def many_images(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 small JPEGs (random crops of the sample photos) in two sub-folders, and one corrupt file in the middle."""
    import cv2

    folder = tmp_path_factory.mktemp("many")
    photos = [cv2.imread(str(p)) for p in sorted(samples_dir.iterdir())]
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 0.9))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = cv2.resize(photo[y : y + side, x : x + side], (64, 64), interpolation=cv2.INTER_AREA)
        sub = folder / ("a" if i < N_IMAGES // 2 else "b")
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"img_{i:04d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    (folder / "b" / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return folder


@pytest.fixture(scope="module")
def one_worker_results(fake_artifact: Path, many_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose process is killed (SIGKILL, by the fake model itself on its 121st call), then resumed to the end
    with a model of the same seed."""
    from edge_infer.testing import write_fake_artifact

    tmp = tmp_path_factory.mktemp("batch")
    doomed = write_fake_artifact(tmp / "doomed", kill_after=121)
    out = tmp / "results.jsonl"
    r = cli("predict", doomed, many_images, "--out", out, "--no-progress")
    assert r.returncode == -signal.SIGKILL, r.stderr
    written = out.read_bytes().count(b"\n")
    assert 100 <= written <= 120, f"the run was meant to be killed after 120 results, it wrote {written} lines"
    with out.open("ab") as f:  # as if the kill had landed in the middle of a write
        f.write(b'{"input": "' + str(many_images).encode() + b'/a/img_00')
    r = cli("predict", fake_artifact, many_images, "--out", out, "--resume", "--no-progress")
    assert r.returncode == 1, r.stderr  # 1: the corrupt image failed, everything else predicted
    assert "removed a partial last line" in r.stderr
    assert f"{written} input(s) were already in the file" in r.stderr
    return out


def test_killed_run_resumes_with_every_image_exactly_once(one_worker_results: Path, many_images: Path) -> None:
    records = read_jsonl(one_worker_results)
    inputs = [r["input"] for r in records]
    expected = sorted(str(p) for p in many_images.rglob("*.jpg"))
    assert len(inputs) == len(set(inputs)) == N_IMAGES + 1
    assert inputs == expected  # the same order a single uninterrupted run would have written
    ok = [r for r in records if "error" not in r]
    assert len(ok) == N_IMAGES and all(r["label"] and 0 < r["score"] <= 1 for r in ok)
    [bad] = [r for r in records if "error" in r]
    assert bad["input"].endswith(CORRUPT) and bad["error"].startswith(bad["input"] + ": ")


def test_two_workers_give_identical_results(
    fake_artifact: Path, many_images: Path, one_worker_results: Path, tmp_path: Path
) -> None:
    out = tmp_path / "two.jsonl"
    r = cli("predict", fake_artifact, many_images, "--out", out, "--workers", "2", "--threads", "1", "--no-progress")
    assert r.returncode == 1, r.stderr
    assert CORRUPT in r.stderr and "Traceback" not in r.stderr
    assert without_timings(read_jsonl(out)) == without_timings(read_jsonl(one_worker_results))


def test_resume_of_a_finished_run_does_nothing(
    fake_artifact: Path, many_images: Path, one_worker_results: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(one_worker_results.read_bytes())
    r = cli("predict", fake_artifact, many_images, "--out", copy, "--resume")
    assert r.returncode == 1  # the corrupt image's error is still in the file
    assert "wrote 0 result(s)" in r.stderr and copy.read_bytes() == one_worker_results.read_bytes()


def test_existing_results_are_never_overwritten(fake_artifact: Path, samples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text('{"input": "x.jpg", "label": "cat"}\n')
    r = cli("predict", fake_artifact, samples_dir, "--out", out)
    assert r.returncode == 2 and "already exists; pass --resume" in r.stderr
    r = cli("predict", fake_artifact, samples_dir, "--resume")
    assert r.returncode == 2 and "--resume needs --out" in r.stderr
    r = cli("predict", fake_artifact, samples_dir, "--out", out, "--workers", "0")
    assert r.returncode == 2 and "--workers must be at least 1" in r.stderr
    assert out.read_text() == '{"input": "x.jpg", "label": "cat"}\n'


def test_workers_without_out_keep_the_json_shape(default_onnx: Path, samples_dir: Path) -> None:
    pin = ("--backend", "onnxruntime")  # auto may choose another engine per thread count, with other last digits
    one = cli("predict", default_onnx, samples_dir, "--json", "--top-k", "2", *pin)
    two = cli("predict", default_onnx, samples_dir, "--json", "--top-k", "2", "--workers", "2", *pin)
    assert one.returncode == two.returncode == 0, two.stderr
    assert without_timings(json.loads(one.stdout)) == without_timings(json.loads(two.stdout))
    table = cli("predict", default_onnx, samples_dir, "--workers", "2")
    assert "2 workers x 1 threads" in table.stdout and "espresso" in table.stdout


def test_progress_bar_on_request_only(fake_artifact: Path, samples_dir: Path, tmp_path: Path) -> None:
    r = cli("predict", fake_artifact, samples_dir, "--out", tmp_path / "a.jsonl", "--progress")
    assert r.returncode == 0 and "7/7" in r.stderr and "img" in r.stderr
    r = cli("predict", fake_artifact, samples_dir, "--out", tmp_path / "b.jsonl")  # stderr is a pipe: no bar
    assert r.returncode == 0 and "7/7" not in r.stderr
    assert len(read_jsonl(tmp_path / "b.jsonl")) == 7


def test_results_file_repairs_only_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"input": "a.jpg", "label": "x"}\n{"input": "b.jpg", "error": "bad"}\n{"input": "c.j')
    with ResultsFile(path, resume=True) as results:
        assert results.repaired and results.previous_errors == 1
        assert results.done == {os.path.abspath("a.jpg"), os.path.abspath("b.jpg")}
        results.write({"input": "c.jpg", "label": "y"})
    assert [r["input"] for r in read_jsonl(path)] == ["a.jpg", "b.jpg", "c.jpg"]
    path.write_text('{"input": "a.jpg"}\nnot json\n{"input": "b.jpg"}\n')
    with pytest.raises(SpecError, match="line 2 is not a result record"):
        ResultsFile(path, resume=True).open()


def test_workers_start_with_sigint_blocked() -> None:
    """The cause of a Ctrl-C reaching a half-started worker: in a fresh process (multiprocessing's resource tracker
    not yet running; starting it unblocks SIGINT in the caller), workers spawned under ``_sigint_blocked`` start
    with SIGINT blocked, and the parent gets its own mask back."""
    code = """
import multiprocessing, signal
from edge_infer.batch import _sigint_blocked
with _sigint_blocked():
    pool = multiprocessing.get_context("spawn").Pool(1)
with pool:
    child = pool.apply(signal.pthread_sigmask, (signal.SIG_BLOCK, ()))
print(signal.SIGINT in child, signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ()))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "False"]


def test_ctrl_c_pending_in_the_interpreter_waits_for_the_block_to_end() -> None:
    """A Ctrl-C whose C handler ran just before the block reaches Python inside it: that must not raise in the
    middle of Pool.__init__ (which leaves half-started workers behind) but once the block has ended."""
    code = """
import signal
from edge_infer.batch import _sigint_blocked
steps = []
try:
    with _sigint_blocked():
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what the interpreter runs for a pending Ctrl-C
        steps.append("block ran to its end")
except KeyboardInterrupt:
    steps.append("KeyboardInterrupt after the block")
print(steps, signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['block ran to its end', 'KeyboardInterrupt after the block'] True"


@pytest.fixture(scope="module")
def slow_fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake model taking 20 ms per image: 500 images keep two workers busy for about 5 s, long enough to be
    interrupted mid-run however loaded the machine is."""
    from edge_infer.testing import write_fake_artifact

    return write_fake_artifact(tmp_path_factory.mktemp("slow-fake"), latency_ms=20.0)


@pytest.mark.parametrize("when", ["workers starting", "mid-run"])
def test_ctrl_c_with_workers_stops_cleanly(slow_fake: Path, many_images: Path, tmp_path: Path, when: str) -> None:
    """Ctrl-C reaches the whole process group (parent and workers): one message, no tracebacks, whole lines kept."""
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, "-m", "edge_infer", "predict", str(slow_fake), str(many_images), "--out", str(out),
           "--workers", "2", "--threads", "1", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if when == "workers starting":
        time.sleep(0.8)  # the parent is up (the results file is created first), workers are importing
        while not out.exists() and proc.poll() is None:
            time.sleep(0.02)
    else:
        while proc.poll() is None and not (out.exists() and out.read_bytes().count(b"\n") >= 3):
            time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("interrupted") == 1, err
    assert "--resume" in err
    text = out.read_text()
    assert text == "" or text.endswith("\n")
    assert all(json.loads(line)["input"] for line in text.splitlines())


def test_a_worker_gives_opencv_its_own_share_of_the_cores(fake_artifact: Path) -> None:
    """Each --workers process runs OpenCV on as many threads as its model, not on a thread per core."""
    import cv2

    from edge_infer import batch

    handler = signal.getsignal(signal.SIGINT)
    cv2.setNumThreads(2)
    try:
        batch._init_worker(str(fake_artifact), 1, None)  # what each spawned worker runs first
        assert cv2.getNumThreads() == 1
        assert "predictor" in batch._worker
    finally:
        predictor = batch._worker.pop("predictor", None)
        if predictor is not None:
            predictor.close()
        signal.signal(signal.SIGINT, handler)
        cv2.setNumThreads(-1)
