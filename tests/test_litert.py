"""LiteRT ``.tflite``: conversion with litert-torch (fp32, int8 through PT2E), the manifest, the channels-last layout,
the interpreter backend, the CLI commands and bad input.

The fast tests use the tiny conv net converted once per session (``tiny_litert``); the default model's conversions are
slow-marked (about a minute each on the CI machine, several with int8 calibration).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from edge_infer.manifest import manifest_path_for, sha256_file
from edge_infer.preprocess import Preprocessor

pytest.importorskip("ai_edge_litert")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip


@pytest.mark.parametrize("fmt", ["tflite", "tflite-int8"])
def test_manifest_carries_layout_preprocessing_labels_sha_versions_and_verification(
    tiny_litert: dict[str, Path], fmt: str
) -> None:
    path = tiny_litert[fmt]
    m = json.loads(manifest_path_for(path).read_text())
    assert m["format"] == fmt and m["sha256"] == sha256_file(path) and m["model_file"] == path.name
    assert m["labels"] == list("abcd") and m["preprocess"]["crop"] == 32
    # what the file takes, and the preprocessing that feeds it: channels last, batch 1
    assert m["input"]["shape"] == [1, 32, 32, 3] and m["input"]["layout"] == "NHWC"
    assert m["preprocess"]["layout"] == "NHWC"
    versions = m["export"]["versions"]
    assert versions["litert-torch"] and versions["ai-edge-litert"] and versions["torch"]
    lt = m["export"]["litert"]
    assert lt["converter"] == "litert-torch" and lt["input"]["shape"] == [1, 32, 32, 3] and lt["ops"]
    assert "TRANSPOSE" not in lt["ops"]  # converted channels-last: no layout shuffle at the input
    v = m["verification"]
    assert v["reference"] == "eager fp32 (PyTorch)" and v["status"] == "verified", v
    if fmt == "tflite":
        assert m["input"]["dtype"] == "float32" and v["max_abs_diff"] < 1e-4 and v["top1_agreement"] == 1.0
    else:
        assert m["input"]["dtype"] == "int8" and lt["input"]["scale"] > 0 and lt["output"]["dtype"] == "int8"
        q = lt["quantization"]
        assert q["flow"] == "PT2E" and "per-channel" in q["config"] and q["calibration"]["images"] >= 8
        assert v["held_out_from_calibration"] is True


def _eager_scores(image: np.ndarray) -> np.ndarray:
    """The tiny net in PyTorch on the same image, preprocessed channels-first as the module takes it."""
    import torch

    from conftest import tiny_net

    nchw = Preprocessor(replace(ei.PreprocessSpec(resize=40, crop=32), layout="NCHW"))(image)
    with torch.no_grad():
        return tiny_net()(torch.from_numpy(nchw)).numpy()  # type: ignore[no-any-return]


def test_tflite_computes_what_pytorch_computes_through_its_own_preprocessing(
    tiny_litert: dict[str, Path], samples_dir: Path
) -> None:
    with ei.load(tiny_litert["tflite"], threads=1) as p:
        assert p.backend == "litert" and p.delegated  # type: ignore[attr-defined]
        for photo in sorted(samples_dir.iterdir()):
            x = p.preprocess(photo)
            assert x.shape == (1, 32, 32, 3) and x.dtype == np.float32
            got = p.run(x)
            want = _eager_scores(p.decode(photo))
            assert got.dtype == np.float32 and np.abs(got - want).max() < 1e-4, photo.name


def test_int8_takes_floats_and_returns_floats_close_to_fp32(tiny_litert: dict[str, Path], samples_dir: Path) -> None:
    photos = sorted(samples_dir.iterdir())
    with ei.load(tiny_litert["tflite-int8"], threads=1) as q, ei.load(tiny_litert["tflite"], threads=1) as f:
        assert q.input.quantized and not f.input.quantized  # type: ignore[attr-defined]
        for photo in photos:
            a, b = q.run(q.preprocess(photo)), f.run(f.preprocess(photo))
            assert a.dtype == np.float32 and a.shape == b.shape == (1, 4)
            assert np.abs(a - b).max() < 0.25, photo.name  # int8 logits: within a few quantization steps


def test_a_channels_first_batch_is_refused_by_name(tiny_litert: dict[str, Path]) -> None:
    with ei.load(tiny_litert["tflite"], threads=1) as p:
        with pytest.raises(ei.InputError, match=r"takes \[1, 32, 32, 3\] \(NHWC\); got a batch of shape \[1, 3, 32, 32"):
            p.run(np.zeros((1, 3, 32, 32), np.float32))


def test_batches_larger_than_the_static_one_run_image_by_image(tiny_litert: dict[str, Path]) -> None:
    frames = [np.full((40, 40, 3), v, dtype=np.uint8) for v in (10, 120, 240)]
    with ei.load(tiny_litert["tflite"], threads=2) as p:
        assert p.max_batch == 1 and p.threads == 2
        many = p.predict_batch(frames, top_k=2)
        one = [p.predict(f, top_k=2) for f in frames]
        stacked = p.run(np.concatenate([p.preprocess(f) for f in frames]))
    assert [r.label for r in many] == [r.label for r in one]
    assert all(abs(a.score - b.score) < 1e-6 for a, b in zip(many, one))
    assert stacked.shape == (3, 4)


def test_tflite_whose_sha256_does_not_match_is_refused_in_one_line(tiny_litert: dict[str, Path],
                                                                   tmp_path: Path) -> None:  # fmt: skip
    src = tiny_litert["tflite"]
    bad = tmp_path / src.name
    shutil.copyfile(src, bad)
    shutil.copyfile(manifest_path_for(src), manifest_path_for(bad))
    with bad.open("r+b") as f:
        f.seek(-8, 2)
        f.write(b"\0" * 8)
    r = cli("predict", bad, tmp_path / "x.jpg")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "sha256 mismatch" in r.stderr


def test_litert_on_a_torchscript_artifact_lists_the_backends_that_can_run_it(
    tiny_torchscript: dict[str, Path], tiny_litert: dict[str, Path], samples_dir: Path
) -> None:
    r = cli("predict", tiny_torchscript["torchscript"], samples_dir / "flower.jpg", "--backend", "litert")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "backend 'litert' cannot run torchscript artifacts; backends that can: torchscript" in r.stderr
    with pytest.raises(ei.SpecError, match="cannot run tflite artifacts; backends that can: litert$"):
        ei.load(tiny_litert["tflite"], backend="onnxruntime")


BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ImportError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
from edge_infer.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _without(modules: set[str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where ``modules`` cannot be imported (as if their package were not installed)."""
    code = BLOCK.format(names=modules)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_without_the_runtime_a_tflite_is_one_line_naming_the_extra(tiny_litert: dict[str, Path],
                                                                  samples_dir: Path) -> None:  # fmt: skip
    r = _without({"ai_edge_litert"}, "predict", tiny_litert["tflite"], samples_dir / "flower.jpg")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "pip install 'edge-infer[litert]'" in r.stderr and "ai_edge_litert" in r.stderr


def test_without_the_converter_the_export_names_its_extra(tmp_path: Path) -> None:
    r = _without({"litert_torch"}, "export", "--model", "mobilenet_v3_small", "--formats", "tflite",
                 "--out", tmp_path, "--json")  # fmt: skip
    assert r.returncode != 0
    [outcome] = json.loads(r.stdout)["artifacts"]
    assert outcome["status"] == "error" and "pip install 'edge-infer[litert-export]'" in outcome["error"]
    assert not list(tmp_path.glob("*.tflite"))


def test_predict_run_serve_and_bench_run_a_tflite(tiny_litert: dict[str, Path], samples_dir: Path,
                                                  tmp_path: Path) -> None:  # fmt: skip
    from edge_infer.serve.client import RemotePredictor
    from edge_infer.serve.testing import serve_in_thread

    fp32, int8 = tiny_litert["tflite"], tiny_litert["tflite-int8"]
    r = cli("predict", fp32, samples_dir / "flower.jpg", "--json", "--backend", "litert", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr  # LiteRT's own INFO line is not passed on
    assert json.loads(r.stdout)[0]["label"] in "abcd"
    r = cli("run", int8, "--source", samples_dir, "--headless", "--json", "--threads", "1")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len([x for x in lines if "label" in x]) == len(list(samples_dir.iterdir()))
    with serve_in_thread(fp32) as server, RemotePredictor.connect(server.url) as remote, ei.load(fp32) as local:
        assert remote.manifest.format == "tflite"
        assert remote.predict(samples_dir / "coffee.png").label == local.predict(samples_dir / "coffee.png").label
    out = tmp_path / "bench.json"
    r = cli("bench", fp32, int8, "--backends", "all", "--runs", "2", "--warmup", "0", "--threads", "1",
            "--no-memory", "--source", "samples", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = {x["format"]: x for x in json.loads(out.read_text())["results"]}
    assert set(rows) == {"tflite", "tflite-int8"} and {x["backend"] for x in rows.values()} == {"litert"}
    assert rows["tflite"]["target"]["top1_agreement"]["reference"] == "tflite (litert)"


@pytest.mark.slow
def test_default_model_converts_to_verified_tflite_fp32_and_int8(artifacts_dir: Path, samples_dir: Path) -> None:
    from exporters.api import export

    outcomes = export("efficientnet_lite0", formats="tflite,tflite-int8", out=artifacts_dir / "lite0-litert")
    by = {o.format: o for o in outcomes}
    assert by["tflite"].status == "verified", by["tflite"].to_dict()
    assert by["tflite-int8"].artifact is not None, by["tflite-int8"].to_dict()
    assert by["tflite-int8"].verification.top1_agreement is not None
    with ei.load(by["tflite"].artifact.path, threads=1) as p:  # type: ignore[union-attr]
        assert p.predict(samples_dir / "flower.jpg").label == "daisy"
        assert p.predict(samples_dir / "coffee.png").label == "espresso"
