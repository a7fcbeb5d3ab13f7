"""ExecuTorch ``.pte``: export (fp32 lowered to XNNPACK, int8 through PT2E), the manifest, the runtime, bad files.

The fast tests use a tiny conv net exported once per session; the default model's real conversion is slow-marked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from edge_infer.manifest import manifest_path_for, sha256_file

pytest.importorskip("executorch")


def test_pte_manifest_carries_preprocessing_labels_sha_versions_and_verification(
    tiny_executorch: dict[str, Path],
) -> None:
    check_manifest(tiny_executorch["executorch"], "executorch")
    fp32 = json.loads(manifest_path_for(tiny_executorch["executorch"]).read_text())
    assert fp32["verification"]["status"] == "verified" and fp32["verification"]["max_abs_diff"] < 1e-3


def check_manifest(path: Path, fmt: str) -> None:
    """The manifest every format carries: preprocessing, labels, sha256, versions, verification against eager."""
    m = json.loads(manifest_path_for(path).read_text())
    assert m["format"] == fmt and m["sha256"] == sha256_file(path)
    assert m["labels"] == list("abcd") and m["preprocess"]["crop"] == 32
    assert m["input"]["shape"] == [1, 3, 32, 32]  # ExecuTorch programs have static shapes: batch 1
    assert m["export"]["versions"]["executorch"] and m["export"]["executorch"]["delegate"] == "XnnpackBackend"
    assert m["verification"]["reference"] == "eager fp32 (PyTorch)" and m["verification"]["top1_agreement"]


@pytest.mark.slow
def test_int8_pte_is_quantized_by_pt2e_with_the_xnnpack_quantizer(tmp_path: Path) -> None:
    from conftest import tiny_net
    from exporters.api import export

    [o] = export(tiny_net(), formats="executorch-int8", out=tmp_path, name="tiny", labels=list("abcd"),
                 preprocess=ei.PreprocessSpec(resize=40, crop=32), calibration_count=8)  # fmt: skip
    assert o.artifact is not None, o.to_dict()
    check_manifest(o.artifact.path, "executorch-int8")
    m = json.loads(manifest_path_for(o.artifact.path).read_text())
    assert m["export"]["executorch"]["quantization"]["quantizer"] == "XNNPACKQuantizer"
    assert m["export"]["executorch"]["quantization"]["calibration"]
    with ei.load(o.artifact.path, threads=1) as p:
        assert p.predict(np.full((40, 40, 3), 90, dtype=np.uint8)).label in "abcd"


def test_pte_runs_batches_larger_than_its_static_one(tiny_executorch: dict[str, Path]) -> None:
    frames = [np.full((40, 40, 3), v, dtype=np.uint8) for v in (10, 120, 240)]
    with ei.load(tiny_executorch["executorch"], threads=1) as p:
        assert p.backend == "executorch" and p.max_batch == 1
        many = p.predict_batch(frames, top_k=2)
        one = [p.predict(f, top_k=2) for f in frames]
    assert [r.label for r in many] == [r.label for r in one]
    assert all(abs(a.score - b.score) < 1e-5 for a, b in zip(many, one))


def test_pte_whose_sha256_does_not_match_is_refused_in_one_line(tiny_executorch: dict[str, Path],
                                                                tmp_path: Path) -> None:  # fmt: skip
    src = tiny_executorch["executorch"]
    bad = tmp_path / src.name
    shutil.copyfile(src, bad)
    shutil.copyfile(manifest_path_for(src), manifest_path_for(bad))
    with bad.open("r+b") as f:
        f.seek(-8, 2)
        f.write(b"\0" * 8)
    r = subprocess.run([sys.executable, "-m", "edge_infer", "predict", str(bad), str(tmp_path / "x.jpg"),
                        "--backend", "executorch"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "sha256 mismatch" in r.stderr


def test_a_pte_on_an_engine_that_cannot_run_it_names_the_one_that_can(tiny_executorch: dict[str, Path]) -> None:
    with pytest.raises(ei.SpecError, match="cannot run executorch artifacts; backends that can: executorch"):
        ei.load(tiny_executorch["executorch"], backend="openvino")


@pytest.mark.slow
def test_default_model_exports_to_a_verified_pte(artifacts_dir: Path, samples_dir: Path) -> None:
    from exporters.api import export

    [outcome] = export("efficientnet_lite0", formats="executorch", out=artifacts_dir / "lite0-et")
    assert outcome.status == "verified", outcome.to_dict()
    assert outcome.artifact is not None
    with ei.load(outcome.artifact.path, threads=1) as p:
        assert p.predict(samples_dir / "flower.jpg").label == "daisy"
