"""The command line as a user runs it: real subprocesses, real artifacts, real photos, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


from edge_infer.manifest import manifest_path_for


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_predict_json_shape(default_onnx: Path, samples_dir: Path) -> None:
    r = cli("predict", default_onnx, samples_dir / "flower.jpg", samples_dir / "coffee.png", "--json", "--top-k", "2")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o["label"] for o in out] == ["daisy", "espresso"]
    for o in out:
        assert {"input", "label", "score", "top_k", "timings_ms"} <= set(o)
        assert len(o["top_k"]) == 2 and set(o["top_k"][0]) >= {"label", "score"}
        assert set(o["timings_ms"]) == {"preprocess", "inference", "total"}


def test_predict_folders_globs_and_manifest_path(default_onnx: Path, samples_dir: Path) -> None:
    r = cli("predict", manifest_path_for(default_onnx), samples_dir, f"{samples_dir}/*.jpg", "--json")
    assert r.returncode == 0, r.stderr
    inputs = [o["input"] for o in json.loads(r.stdout)]
    assert len(inputs) == len(set(inputs)) == 7  # the glob's files were already in the folder
    assert inputs == sorted(inputs)
    table = cli("predict", default_onnx, samples_dir)
    assert "daisy" in table.stdout and "espresso" in table.stdout and "infer ms" in table.stdout


def test_bad_inputs_are_reported_and_the_rest_predicted(default_onnx: Path, samples_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    data = (samples_dir / "flower.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    shutil.copyfile(samples_dir / "coffee.png", folder / "z_coffee.png")
    r = cli("predict", default_onnx, folder, tmp_path / "missing.jpg", "--json")
    assert r.returncode == 1
    out = {Path(o["input"]).name: o for o in json.loads(r.stdout)}
    assert out["z_coffee.png"]["label"] == "espresso"
    assert "not an image" in out["notes.jpg"]["error"]
    assert "empty file" in out["empty.png"]["error"]
    assert "truncated" in out["cut.jpg"]["error"]
    assert "file not found" in out["missing.jpg"]["error"]
    assert "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if "error:" in line]) == 4


def test_broken_artifact_is_one_line_and_exit_2(default_onnx: Path, samples_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "m.onnx"
    shutil.copyfile(default_onnx, bad)
    manifest_path_for(bad).write_text("not json")
    r = cli("predict", bad, samples_dir / "flower.jpg")
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_every_input_failing_exits_2(default_onnx: Path, tmp_path: Path) -> None:
    r = cli("predict", default_onnx, tmp_path / "nope.jpg")
    assert r.returncode == 2 and "file not found" in r.stderr


def test_bad_options(default_onnx: Path, samples_dir: Path) -> None:
    r = cli("predict", default_onnx, samples_dir, "--top-k", "0")
    assert r.returncode == 2 and "--top-k" in r.stderr
    r = cli("export", "--model", "resnet_18", "--out", "unused")
    assert r.returncode == 2 and "did you mean 'resnet18'" in r.stderr and "Traceback" not in r.stderr


def test_samples_command(tmp_path: Path) -> None:
    r = cli("samples", "--out", tmp_path / "s")
    assert r.returncode == 0
    assert {p.name for p in (tmp_path / "s").iterdir()} >= {"flower.jpg", "coffee.png", "chelsea.png"}


def test_help_lists_commands() -> None:
    r = cli("--help")
    assert r.returncode == 0 and "export" in r.stdout and "predict" in r.stdout
