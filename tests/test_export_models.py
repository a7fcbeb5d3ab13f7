"""Exporting other models: a torchvision classifier by name (random init or local weights), a user's nn.Module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import edge_infer as ei
from exporters.api import export
from exporters.models import get_model_spec


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))  # type: ignore[no-any-return]


def test_user_module_through_the_api(tmp_path: Path, samples_dir: Path) -> None:
    torch.manual_seed(0)
    pre = ei.PreprocessSpec(resize=64, crop=56, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    [o] = ei.export(TinyNet(), formats="onnx", out=tmp_path, name="tiny", preprocess=pre, labels=["a", "b", "c"])
    assert o.status == "verified", o.to_dict()
    m = json.loads(Path(f"{o.artifact.path}.json").read_text())
    assert m["preprocess"]["crop"] == 56 and m["labels"] == ["a", "b", "c"] and m["input"]["shape"] == [None, 3, 56, 56]
    with ei.load(o.artifact.path) as p:
        r = p.predict(samples_dir / "flower.jpg", top_k=5)
    assert r.label in {"a", "b", "c"} and len(r.top_k) == 3


def test_torchvision_by_name_with_local_weights(tmp_path: Path, samples_dir: Path) -> None:
    spec = get_model_spec("mobilenet_v3_small")
    assert spec.preprocess.crop == 224 and len(spec.labels) == 1000
    torch.manual_seed(1)
    model = spec.build()
    weights = tmp_path / "w.pth"
    torch.save(model.state_dict(), weights)
    r = subprocess.run(
        [sys.executable, "-m", "edge_infer", "export", "--model", "mobilenet_v3_small", "--weights", str(weights),
         "--out", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [art] = json.loads(r.stdout)["artifacts"]
    assert art["status"] == "verified" and art["top1_agreement"] == 1.0
    assert {"format", "path", "manifest", "size_bytes"} <= set(art)
    # The artifact computes what the eager model with those weights computes.
    with ei.load(art["path"]) as p:
        x = p.preprocess(samples_dir / "coffee.png")
        with torch.inference_mode():
            expected = model.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(p.run(x), expected, atol=1e-4)


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"nope": torch.zeros(1)}, bad)
    with pytest.raises(ei.SpecError, match="do not fit"):
        get_model_spec("mobilenet_v3_small", weights=bad).build()
    with pytest.raises(ei.SpecError, match="not found"):
        get_model_spec("mobilenet_v3_small", weights=tmp_path / "missing.pth").build()


def test_untraceable_module_fails_alone(tmp_path: Path) -> None:
    class NeedsTwoInputs(TinyNet):
        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return super().forward(x * mask)

    outcomes = export(NeedsTwoInputs(), formats="onnx,nonsense", out=tmp_path, name="dd",
                      preprocess=ei.PreprocessSpec(resize=64, crop=56))  # fmt: skip
    assert [o.format for o in outcomes] == ["onnx", "nonsense"]
    assert [o.status for o in outcomes] == ["error", "error"]
    assert "torch.onnx.export failed" in (outcomes[0].error or "")
    assert "valid:" in (outcomes[1].error or "")


def test_target_by_name_or_object_never_silently_ignored() -> None:
    from exporters.api import resolve_target
    from edge_infer.profiles import get_target

    assert resolve_target("rpi4") is get_target("rpi4")
    assert resolve_target(get_target("rpi5")).torch_qengine == "qnnpack"
    with pytest.raises(ei.UnknownNameError, match="did you mean 'rpi4'"):
        resolve_target("rpi44")
    with pytest.raises(ei.SpecError, match="target must be"):
        resolve_target(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "closest"), [({"calibraton_count": 3}, "calibration_count"),
                                                ({"int8_mod": "dynamic"}, "int8_mode")])  # fmt: skip
def test_a_misspelled_export_option_names_the_valid_ones(tmp_path: Path, given: dict, closest: str) -> None:
    with pytest.raises(ei.UnknownNameError, match=f"unknown export option .*did you mean '{closest}'"):
        ei.export(TinyNet().eval(), formats="onnx", out=tmp_path, name="tiny", **given)
    assert not any(tmp_path.iterdir()), "nothing is exported when an option is wrong"


def test_bad_option_values_are_refused() -> None:
    from exporters.options import ExportOptions

    with pytest.raises(ei.SpecError, match="int8_mode must be"):
        ExportOptions(int8_mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ei.SpecError, match="calibration_count must be"):
        ExportOptions.build(calibration_count=0)
    assert ExportOptions.build(int8_keep_float="Gemm, Conv_0").int8_keep_float == ("Gemm", "Conv_0")


def test_strict_export_raises_verification_error_with_every_outcome(tmp_path: Path) -> None:
    with pytest.raises(ei.VerificationError) as info:
        ei.export(TinyNet().eval(), formats="onnx,tensorrt", out=tmp_path, name="tiny", labels=list("abc"), strict=True)
    err = info.value
    assert [o.format for o in err.outcomes] == ["onnx", "tensorrt"] and err.outcomes[0].status == "verified"
    assert len(err.failures) == 1 and err.failures[0].startswith("tensorrt: error")
    assert (tmp_path / "tiny.onnx").exists(), "the formats that worked are still written"
