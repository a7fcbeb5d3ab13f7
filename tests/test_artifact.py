"""Manifest and artifact contract: sha256, missing or broken manifests, schema versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_infer import Artifact, ArtifactError, load
from edge_infer.manifest import Manifest, manifest_path_for


@pytest.fixture()
def copy(default_onnx: Path, tmp_path: Path) -> Path:
    dst = tmp_path / default_onnx.name
    shutil.copyfile(default_onnx, dst)
    shutil.copyfile(manifest_path_for(default_onnx), manifest_path_for(dst))
    return dst


def test_manifest_has_every_fact_the_runtime_needs(default_onnx: Path) -> None:
    d = json.loads(manifest_path_for(default_onnx).read_text())
    assert d["schema_version"] == 3 and d["format"] == "onnx" and d["task"] == "image-classification"
    assert d["input"] == {"name": "input", "shape": [None, 3, 224, 224], "dtype": "float32", "layout": "NCHW"}
    assert d["preprocess"]["resize"] == 256 and d["preprocess"]["crop"] == 224
    assert d["preprocess"]["mean"] == [0.5, 0.5, 0.5] and d["preprocess"]["std"] == [0.5, 0.5, 0.5]
    assert d["preprocess"]["channel_order"] == "RGB"
    assert len(d["labels"]) == 1000 and d["labels"][281] == "tabby"
    assert d["size_bytes"] == default_onnx.stat().st_size and len(d["sha256"]) == 64
    assert d["model"]["name"] == "efficientnet_lite0"
    assert "torch" in d["export"]["versions"] and "onnx" in d["export"]["versions"]
    assert d["export"]["opset"] >= 17
    v = d["verification"]
    assert v["status"] == "verified" and v["top1_agreement"] == 1.0 and v["max_abs_diff"] < 1e-3
    assert v["images"] >= 40


def test_manifest_path_may_be_given_instead_of_model(default_onnx: Path) -> None:
    a = Artifact.read(manifest_path_for(default_onnx))
    assert a.path == default_onnx and a.manifest.format == "onnx"


def test_changed_model_bytes_are_refused(copy: Path) -> None:
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load(copy)


def test_manifest_that_is_not_json(copy: Path) -> None:
    manifest_path_for(copy).write_text("{this is not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load(copy)


def test_missing_manifest_says_what_to_do(copy: Path) -> None:
    manifest_path_for(copy).unlink()
    with pytest.raises(ArtifactError, match="no manifest beside it"):
        load(copy)


def test_manifest_without_model_file(copy: Path) -> None:
    copy.unlink()
    with pytest.raises(ArtifactError, match="not found"):
        load(manifest_path_for(copy))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "newer than this edge-infer"),
        ({"format": "tensorrt"}, "unknown format 'tensorrt'"),
        ({"preprocess": {"resize": 100, "crop": 224, "mean": [0, 0, 0], "std": [1, 1, 1]}}, "crop"),
    ],
)
def test_bad_manifest_fields(copy: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    mp = manifest_path_for(copy)
    d = json.loads(mp.read_text())
    d.update(change)
    mp.write_text(json.dumps(d))
    with pytest.raises(ArtifactError, match=message):
        load(copy)


def test_roundtrip_keeps_unknown_sections(copy: Path) -> None:
    mp = manifest_path_for(copy)
    d = json.loads(mp.read_text())
    d["calibration"] = {"images": 3}
    mp.write_text(json.dumps(d))
    m = Manifest.read(mp)
    assert m.to_dict()["calibration"] == {"images": 3}
