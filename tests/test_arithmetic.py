"""int8 arithmetic per device and backend, per-arithmetic verdicts in manifests, and whether one holds here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_infer.arithmetic import (
    ARITHMETICS,
    effective_arithmetic,
    int8_arithmetic,
    recorded_verdicts,
    verification_here,
)
from edge_infer.backends import BACKENDS, get_backend
from edge_infer.errors import UnknownNameError
from edge_infer.manifest import Manifest, Status
from edge_infer.profiles import TARGETS, get_target
from targets import ProfileError

OLD = Path(__file__).parent / "data" / "manifests_0.1.0"


@pytest.mark.parametrize(
    ("arch", "isa", "expected"),
    [
        ("x86_64", {"avx2": True, "avx512": True, "vnni": True}, "exact32"),  # AVX-512 VNNI (Ice Lake, Zen 4)
        ("x86_64", {"avx2": True, "vnni": True}, "exact32"),  # AVX-VNNI (Alder Lake)
        ("x86_64", {"avx2": True}, "pairs16"),  # Zen 3, Haswell..Comet Lake
        ("x86_64", {"avx2": True, "avx512": True}, "pairs16"),  # Skylake-X without VNNI
        ("x86_64", {"sse4_2": True}, "exact32"),  # SSE kernels widen before pmaddwd
        ("aarch64", {"neon": True, "dotprod": True}, "exact32"),  # Raspberry Pi 5
        ("aarch64", {"neon": True}, "exact32"),  # Raspberry Pi 4: NEON widening, 32-bit sums
    ],
)
def test_arithmetic_from_cpu_flags(arch: str, isa: dict[str, bool], expected: str) -> None:
    assert int8_arithmetic(arch, isa) == expected


def test_this_machine_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_infer.machine import machine_info

    info = machine_info()
    assert int8_arithmetic() == int8_arithmetic(info.arch, info.isa)
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")
    assert int8_arithmetic() == "pairs16"
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs17")
    with pytest.raises(UnknownNameError, match="pairs16"):
        int8_arithmetic()


def test_backends_say_how_they_sum_int8_on_avx2() -> None:
    ort, ov = get_backend("onnxruntime"), get_backend("openvino")
    assert ort.int8_pairs16_on_avx2 and ort.int8_exact_config == {"session.x64quantprecision": "1"}
    assert ov.int8_pairs16_on_avx2 and not ov.int8_exact_config
    assert not get_backend("executorch").int8_pairs16_on_avx2 and not get_backend("litert").int8_pairs16_on_avx2
    exact = {"session.x64quantprecision": "1"}
    assert effective_arithmetic("pairs16", ort, exact) == "exact32"
    assert effective_arithmetic("pairs16", ort, {}) == "pairs16"
    assert effective_arithmetic("pairs16", ov, exact) == "pairs16"  # the ONNX Runtime option means nothing to OpenVINO
    assert effective_arithmetic("pairs16", get_backend("litert"), {}) == "exact32"
    assert all(effective_arithmetic("exact32", b, {}) == "exact32" for b in BACKENDS.values())


def test_every_target_names_its_arithmetic() -> None:
    assert {t.int8_arithmetic for t in TARGETS.values()} <= set(ARITHMETICS)
    assert get_target("laptop-x86").int8_arithmetic == "pairs16"
    vnni = get_target("laptop-x86-vnni")
    assert vnni.int8_arithmetic == "exact32" and "avx512_vnni" in vnni.cpu_features
    assert not vnni.onnx_quant.reduce_range and vnni.formats[0] == "onnx-int8"
    assert all(get_target(n).int8_arithmetic == "exact32" for n in ("rpi4", "rpi5", "mobile-arm64"))
    with pytest.raises(ProfileError, match="does not exist on aarch64"):
        from dataclasses import replace

        replace(get_target("rpi5"), int8_arithmetic="pairs16")


def _int8_manifest(by_arithmetic: dict[str, object] | None, config: dict[str, str] | None = None) -> Manifest:
    d = json.loads((OLD / "efficientnet_lite0.int8.onnx.json").read_text())
    d["runtime"] = {"onnxruntime_session_config": config} if config else {}
    d["schema_version"] = 2
    if by_arithmetic is not None:
        d["verification"]["by_arithmetic"] = by_arithmetic
    return Manifest.from_dict(d)


VERIFIED = {"status": "verified", "how": "exact QDQ reference", "confident_agreement": 1.0}
FAILED = {"status": "failed", "how": "onnxruntime kernels", "confident_agreement": 0.8}


def test_a_verdict_for_this_arithmetic_holds() -> None:
    m = _int8_manifest({"exact32": VERIFIED})
    here = verification_here(m, "onnxruntime", device="exact32")
    assert here.holds and not here.needs_recheck and here.arithmetic == "exact32"
    assert "exact QDQ reference" in here.reason
    failed = verification_here(_int8_manifest({"exact32": FAILED}), "onnxruntime", device="exact32")
    assert not failed.holds and not failed.needs_recheck


def test_another_arithmetic_needs_a_recheck_unless_the_backend_is_exact_there() -> None:
    m = _int8_manifest({"exact32": VERIFIED})
    here = verification_here(m, "onnxruntime", device="pairs16")
    assert not here.holds and here.needs_recheck and here.arithmetic == "pairs16"
    assert "judged in exact32 arithmetic only" in here.reason and "16 bits" in here.reason
    exact_config = _int8_manifest({"exact32": VERIFIED}, {"session.x64quantprecision": "1"})
    assert verification_here(exact_config, "onnxruntime", device="pairs16").holds
    both = _int8_manifest({"exact32": VERIFIED, "pairs16": FAILED})
    assert not verification_here(both, "onnxruntime", device="pairs16").holds
    assert not verification_here(both, "onnxruntime", device="pairs16").needs_recheck


def test_a_verdict_holds_for_the_kernels_that_computed_it() -> None:
    """Same arithmetic, other kernels: OpenVINO running a file judged with ONNX Runtime's int8 kernels rounds
    requantization its own way, so that verdict must be re-checked there; verdicts with no backend (before
    2026-12-07) keep holding for every backend in their arithmetic."""
    m = _int8_manifest({"exact32": {**VERIFIED, "backend": "onnxruntime"}})
    assert verification_here(m, "onnxruntime", device="exact32").holds
    other = verification_here(m, "openvino", device="exact32")
    assert not other.holds and other.needs_recheck and "onnxruntime's int8 kernels" in other.reason
    assert "openvino rounds int8 differently" in other.reason
    assert recorded_verdicts(m)["exact32"].backend == "onnxruntime"
    assert "backend" not in recorded_verdicts(m)["exact32"].numbers
    assert recorded_verdicts(m)["exact32"].to_dict()["backend"] == "onnxruntime"
    assert verification_here(_int8_manifest({"exact32": VERIFIED}), "openvino", device="exact32").holds


def test_old_and_fp32_manifests_keep_their_verdict() -> None:
    old = Manifest.read(OLD / "efficientnet_lite0.int8.onnx.json")
    assert recorded_verdicts(old) == {}
    here = verification_here(old, "onnxruntime", device="pairs16")
    assert not here.needs_recheck and here.holds == old.status.usable and "predates" in here.reason
    fp32 = Manifest.read(OLD / "efficientnet_lite0.onnx.json")
    assert verification_here(fp32, device="pairs16").holds and verification_here(fp32).arithmetic is None


def test_verdicts_round_trip_and_unknown_arithmetics_are_ignored() -> None:
    m = _int8_manifest({"exact32": VERIFIED, "fp8-sums": VERIFIED})
    again = Manifest.from_dict(json.loads(json.dumps(m.to_dict())))
    verdicts = recorded_verdicts(again)
    assert set(verdicts) == {"exact32"} and verdicts["exact32"].status is Status.VERIFIED
    assert verdicts["exact32"].numbers["confident_agreement"] == 1.0
    assert again.verification.details["by_arithmetic"]["fp8-sums"] == VERIFIED  # kept, not dropped


def test_the_exactness_switch_is_applied_only_where_sums_would_saturate() -> None:
    from edge_infer.arithmetic import runtime_config_here

    ort = get_backend("onnxruntime")
    config = {"session.x64quantprecision": "1", "session.other": "x"}
    assert runtime_config_here(config, ort, "pairs16") == config
    assert runtime_config_here(config, ort, "exact32") == {"session.other": "x"}  # same answers, VNNI speed
    assert runtime_config_here(config, get_backend("openvino"), "exact32") == config  # not its switch to drop
