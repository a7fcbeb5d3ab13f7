"""Manifests written by edge-infer 0.1.0 (schema 1) and at schema 2 still load, typed; new manifests round-trip
(schema 3, which adds ``image_input``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import edge_infer as ei
from edge_infer.manifest import SCHEMA_VERSION, Manifest, Status
from edge_infer.spec import ImageInputSpec

OLD = Path(__file__).parent / "data" / "manifests_0.1.0"
SCHEMA2 = Path(__file__).parent / "data" / "manifests_schema2"


def _old(name: str) -> Manifest:
    return Manifest.read(OLD / f"{name}.json")


def test_every_old_manifest_reads() -> None:
    names = sorted(p.name for p in OLD.glob("*.json"))
    assert len(names) == 5
    for name in names:
        m = Manifest.read(OLD / name)
        assert m.schema_version == 1 and m.provenance.versions["edge-infer"] == "0.1.0"
        assert m.status in (Status.VERIFIED, Status.FAILED)


def test_runtime_hints_come_from_where_0_1_0_wrote_them() -> None:
    assert _old("efficientnet_lite0.int8.onnx").runtime.onnxruntime_session_config == {
        "session.x64quantprecision": "1"
    }
    assert _old("efficientnet_lite0.int8.pt").runtime.torch_qengine == "x86"
    assert _old("efficientnet_lite0.onnx").runtime.torch_qengine is None
    fp32 = _old("efficientnet_lite0.onnx")
    assert fp32.output.kind == "logits" and fp32.preprocess is not None and fp32.preprocess.crop == 224
    assert fp32.verification.count == 48 and fp32.verification.top1_agreement == 1.0


def test_old_tabular_manifest_is_typed() -> None:
    m = _old("iris.onnx")
    assert m.task == "tabular-classification" and m.features is not None and m.features.count == 4
    assert m.classes == (0, 1, 2) and m.labels == ("setosa", "versicolor", "virginica")
    assert m.output.label == "label" and m.output.probabilities == "probabilities"
    assert m.verification.unit == "rows" and m.verification.count == 150
    assert m.model.details["test_accuracy"] == 1.0


def test_old_artifact_still_runs(tmp_path: Path) -> None:
    for name in ("iris.onnx", "iris.onnx.json"):
        shutil.copy2(OLD / name, tmp_path / name)
    with ei.load(tmp_path / "iris.onnx") as p:
        assert isinstance(p, ei.TabularPredictor)
        assert p.predict([5.1, 3.5, 1.4, 0.2]).prediction == "setosa"  # type: ignore[union-attr]


def test_new_manifest_round_trips_and_is_schema_3() -> None:
    old = _old("efficientnet_lite0.int8.onnx")
    d = old.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION == 3
    assert d["image_input"] == {"dtype": "float32", "layout": "NCHW"}, "old artifacts take the float tensor"
    assert d["runtime"] == {"onnxruntime_session_config": {"session.x64quantprecision": "1"}}
    assert "onnxruntime_session_config" not in d["export"], "a runtime hint lives in one place"
    again = Manifest.from_dict(json.loads(json.dumps(d)))
    assert again.with_updates(schema_version=1) == old


def test_a_newer_schema_is_refused() -> None:
    d = _old("efficientnet_lite0.onnx").to_dict() | {"schema_version": 4}
    with pytest.raises(ei.ArtifactError, match="newer than this edge-infer understands"):
        Manifest.from_dict(d)
    with pytest.raises(ei.ArtifactError, match="unknown verification status"):
        Manifest.from_dict(d | {"schema_version": 3, "verification": {"status": "mostly fine"}})


def test_schema_2_manifest_reads_as_a_float_tensor_artifact() -> None:
    m = Manifest.read(SCHEMA2 / "efficientnet_lite0.onnx.json")
    assert m.schema_version == 2 and m.status == Status.VERIFIED
    assert m.image_input == ImageInputSpec(dtype="float32", layout="NCHW") and not m.image_input.pixels
    assert m.input is not None and m.input.dtype == "float32"
    again = Manifest.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again.schema_version == 3 and again.with_updates(schema_version=2) == m


def test_uint8_image_input_round_trips_and_bad_values_are_refused() -> None:
    d = _old("efficientnet_lite0.onnx").to_dict() | {"image_input": {"dtype": "uint8", "layout": "NHWC"}}
    m = Manifest.from_dict(json.loads(json.dumps(d)))
    assert m.image_input == ImageInputSpec(dtype="uint8", layout="NHWC") and m.image_input.pixels
    assert m.to_dict()["image_input"] == {"dtype": "uint8", "layout": "NHWC"}
    with pytest.raises(ei.ArtifactError, match="image_input dtype must be 'float32' or 'uint8', got 'int16'"):
        Manifest.from_dict(d | {"image_input": {"dtype": "int16", "layout": "NHWC"}})
    with pytest.raises(ei.ArtifactError, match="image_input layout"):
        Manifest.from_dict(d | {"image_input": {"dtype": "uint8", "layout": "HWC"}})
    with pytest.raises(ei.ArtifactError, match="image_input must be an object"):
        Manifest.from_dict(d | {"image_input": "uint8"})
    with pytest.raises(ei.ArtifactError, match="image_input needs a preprocess section"):
        Manifest.from_dict(d | {"preprocess": None})


def test_tabular_manifest_has_no_image_input() -> None:
    m = _old("iris.onnx")
    assert m.image_input is None and "image_input" not in m.to_dict()
