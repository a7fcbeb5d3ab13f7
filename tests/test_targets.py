"""Target profiles: every setting has its reason, contradictions raise, unknown names list the valid ones."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from edge_infer.cli.main import main
from edge_infer.errors import EdgeInferError, UnknownNameError
from edge_infer.formats import format_names
from edge_infer.profiles import TARGETS as PROFILES
from edge_infer.profiles import get_target
from targets import OnnxQuantSettings, ProfileError, Target, qengine_runs_on
from targets.profiles import REASONED_SETTINGS


@pytest.mark.parametrize("name", ["laptop-x86", "laptop-x86-vnni", "rpi4", "rpi5", "mobile-arm64"])
def test_profile_is_complete_and_reasoned(name: str) -> None:
    t = PROFILES[name]
    assert set(t.formats) <= set(format_names()), "every preferred format is a known format"
    for setting in REASONED_SETTINGS:
        assert len(t.reasons.get(setting, "")) > 10, f"{name}: no reason given for {setting}"
    assert qengine_runs_on(t.torch_qengine, t.arch)
    assert t.to_dict()["onnx_quant"]["quant_format"] in ("QDQ", "QOperator")


def test_profiles_tell_pi4_from_pi5() -> None:
    pi4, pi5 = get_target("rpi4"), get_target("rpi5")
    assert "asimddp" in pi5.cpu_features and "asimddp" not in pi4.cpu_features
    assert pi5.formats[0] == "onnx-int8" and pi4.formats[0] == "onnx"
    assert any("dot-product" in n for n in pi4.notes)
    assert get_target("laptop-x86").onnx_quant.reduce_range and not pi5.onnx_quant.reduce_range


def _target(**changes: object) -> Target:
    base = dict(name="t", description="d", arch="aarch64", threads=4, formats=("onnx",), torch_qengine="qnnpack")
    return Target(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"torch_qengine": "x86"}, "not the aarch64 engine"),
        ({"arch": "x86_64", "torch_qengine": "qnnpack"}, "slow portable kernels"),
        ({"cpu_features": ("avx2",)}, "do not exist on aarch64"),
        ({"arch": "x86_64", "torch_qengine": "x86", "cpu_features": ("asimddp",)}, "do not exist on x86_64"),
        ({"formats": ("onnx", "onnx")}, "twice"),
        ({"formats": ()}, "at least one format"),
        ({"threads": 0}, "threads"),
        ({"arch": "riscv64"}, "arch must be one of"),
        ({"onnx_quant": OnnxQuantSettings(reduce_range=True)}, "reduce_range"),
        ({"systems": ("beos",)}, "systems"),
        ({"reasons": {"thread": "typo"}}, "unknown setting"),
    ],
)
def test_contradictory_target_raises_at_construction(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        _target(**changes)


def test_contradictory_quant_settings_raise() -> None:
    with pytest.raises(ProfileError, match="QOperator"):
        OnnxQuantSettings(quant_format="QOperator", activation_type="int8")
    with pytest.raises(ProfileError, match="calibrate_method"):
        OnnxQuantSettings(calibrate_method="magic")
    for bad in (0.0, 50.0, 100.5):
        with pytest.raises(ProfileError, match="calibrate_percentile"):
            OnnxQuantSettings(calibrate_method="percentile", calibrate_percentile=bad)


def test_profiles_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_target("rpi5").threads = 8  # type: ignore[misc]


def test_unknown_target_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_target("rpi3")
    text = str(info.value)
    assert "did you mean 'rpi5'" in text or "did you mean 'rpi4'" in text
    for name in PROFILES:
        assert name in text
    assert isinstance(info.value, EdgeInferError)


def test_cli_export_unknown_target_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--target", "raspberry"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge-infer export: error: unknown target 'raspberry'") and len(err.splitlines()) == 1
    assert "laptop-x86, laptop-x86-vnni, mobile-arm64, rpi4, rpi5" in err


def test_cli_targets_lists_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name, t in PROFILES.items():
        assert name in out and ", ".join(t.formats) in out
    assert main(["targets", "rpi4"]) == 0
    out = capsys.readouterr().out
    assert "no dot-product" in out and "reduce_range=False" in out
    assert main(["targets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rpi5"]["torch_qengine"] == "qnnpack" and data["rpi5"]["reasons"]["formats"]


def test_targets_import_is_stdlib_only() -> None:
    code = (
        "import sys, targets; t = {p.name: p for p in targets.BUILTIN_PROFILES}['rpi5']; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('edge_infer', 'numpy', 'cv2', 'torch')); "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
