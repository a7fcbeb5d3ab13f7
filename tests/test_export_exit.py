"""``edge-infer export --target``: exit 0 when the recommended artifact is verified for the target, failed ones
shown as ❎; ``--strict`` exits 1 on any failure."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from edge_infer.artifact import Artifact
from edge_infer.bundle import BundleIndex, BundleRecord
from edge_infer.cli.cmd_export import bundle_exit_code
from edge_infer.cli.main import main
from edge_infer.manifest import Status, Verification, manifest_path_for

INT8_FAILED = "fails the int8 rule in exact32 arithmetic: top-1 agrees on 95.0% of 80 confident images"


def _index(*records: BundleRecord) -> BundleIndex:
    usable = [r for r in records if r.status.usable and r.file]
    return BundleIndex(model="m", target={"name": "rpi5"}, artifacts=records,
                       recommended=usable[0].file if usable else None)  # fmt: skip


INT8_OK = BundleRecord(format="onnx-int8", status=Status.VERIFIED, file="m.int8.onnx")
INT8_BAD = BundleRecord(format="onnx-int8", status=Status.FAILED, file="m.int8.onnx", error=INT8_FAILED)
FP32_OK = BundleRecord(format="onnx", status=Status.VERIFIED, file="m.onnx")
FP32_ERROR = BundleRecord(format="onnx", status=Status.ERROR, error="export failed")


def test_exit_code_follows_the_recommended_artifact() -> None:
    assert bundle_exit_code(_index(INT8_OK, FP32_OK)) == 0
    assert bundle_exit_code(_index(INT8_BAD, FP32_OK)) == 0  # int8 failed, fp32 recommended and verified
    assert bundle_exit_code(_index(INT8_BAD, FP32_OK), strict=True) == 1
    assert bundle_exit_code(_index(INT8_OK, FP32_ERROR)) == 0
    assert bundle_exit_code(_index(INT8_OK, FP32_ERROR), strict=True) == 1
    assert bundle_exit_code(_index(INT8_BAD, FP32_ERROR)) == 1  # nothing to recommend
    assert bundle_exit_code(_index(INT8_OK, FP32_OK), strict=True) == 0


@pytest.fixture()
def fake_build(default_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``build_bundle`` as the CLI calls it, writing a real bundle: the session's verified fp32 ONNX and an int8
    format that failed verification (what ``export --target rpi5`` gives when int8 fails the rule)."""
    import edge_infer.build
    from exporters.api import ExportOutcome
    from exporters.bundle import write_bundle

    folder = tmp_path / "bundle"

    def build(model: Any, target: Any, out: Any, **_: Any) -> Any:
        folder.mkdir()
        for p in (default_onnx, manifest_path_for(default_onnx)):
            shutil.copy2(p, folder / p.name)
        art = Artifact.read(folder / default_onnx.name)
        int8_path = folder / "efficientnet_lite0.int8.onnx"  # stands in for an int8 file that failed the rule
        shutil.copy2(default_onnx, int8_path)
        failed = Verification(status=Status.FAILED, error=INT8_FAILED)
        art.manifest.with_updates(format="onnx-int8", model_file=int8_path.name,
                                  verification=failed).write(manifest_path_for(int8_path))  # fmt: skip
        int8 = Artifact.read(int8_path)
        outcomes = [ExportOutcome("onnx-int8", Status.FAILED, int8, error=INT8_FAILED, verification=failed),
                    ExportOutcome("onnx", Status.VERIFIED, art, verification=art.manifest.verification)]  # fmt: skip
        return write_bundle(folder, target, "efficientnet_lite0", outcomes, wheel=False)

    monkeypatch.setattr(edge_infer.build, "build_bundle", build)
    return folder


def test_cli_bundle_exits_0_with_a_verified_recommendation_and_1_with_strict(
    fake_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--target", "rpi5", "--out", str(fake_build)]) == 0
    out = capsys.readouterr().out
    assert "recommended: efficientnet_lite0.onnx" in out and "❎ failed verification" in out and INT8_FAILED in out
    shutil.rmtree(fake_build)
    assert main(["export", "--target", "rpi5", "--out", str(fake_build), "--strict"]) == 1
