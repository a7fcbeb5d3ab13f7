"""Target profiles: threads, preferred formats, quantization engines, each setting with the reason for it.

Stdlib only and independent of ``edge_infer``, so a device can read its profile without numpy or torch. A
contradictory profile raises ``ProfileError`` (a ``ValueError``; ``edge_infer.errors.TargetError`` is its subclass in
edge-infer's error tree). The table of profiles by name is ``edge_infer.profiles.TARGETS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from targets.engines import ARCHES, INT8_ARITHMETIC_ARCHES, INT8_ARITHMETICS, NATIVE_QENGINES, TORCH_QENGINE_ARCHES

# CPU feature names as Linux reports them (/proc/cpuinfo "flags" on x86-64, "Features" on aarch64).
CPU_FEATURES: dict[str, tuple[str, ...]] = {
    "x86_64": ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8"),
    "aarch64": ("asimd", "fp", "asimdhp", "fphp", "asimddp", "i8mm", "sve", "sve2", "bf16"),
}
SYSTEMS = ("linux", "windows", "darwin", "android", "ios")
# Settings a profile states a reason for (``Target.reasons`` keys); every built-in profile has all of them.
REASONED_SETTINGS = ("arch", "threads", "formats", "torch_qengine", "onnx_quant", "cpu_features", "systems",
                     "int8_arithmetic")


class ProfileError(ValueError):
    """A target profile (or its quantization settings) contradicts itself."""


def _target_error(message: str) -> Exception:
    return ProfileError(message)


@dataclass(frozen=True, kw_only=True)
class OnnxQuantSettings:
    """ONNX Runtime static quantization settings (the arguments of ``onnxruntime.quantization.quantize_static``)."""

    quant_format: str = "QDQ"
    activation_type: str = "uint8"  # "uint8" (U8S8 with int8 weights) or "int8" (S8S8)
    weight_type: str = "int8"
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights: only for x86-64 AVX2/AVX-512 without VNNI
    calibrate_method: str = "minmax"  # "minmax", "entropy", "percentile"
    # the percentile of each activation's histogram that becomes its range (calibrate_method="percentile" only;
    # ONNX Runtime's CalibPercentile)
    calibrate_percentile: float = 99.999
    # subtract each layer's mean output shift from int8 weight rounding, E[conv(x, W_q - W)], from its bias
    # (static mode; exporters/onnx_bias_correction.py, docs/int8.md)
    bias_correction: bool = True
    # the graph's outputs (the logits) stay float: the last int8 op (QGemm) writes them from its int32 sums instead of
    # requantizing them to 8 bits, which tied the top two classes on 10 of 195 held-out images (docs/int8.md)
    float_outputs: bool = True

    def __post_init__(self) -> None:
        if self.quant_format not in ("QDQ", "QOperator"):
            raise _target_error(f"quant_format must be QDQ or QOperator, got {self.quant_format!r}")
        for name in ("activation_type", "weight_type"):
            if getattr(self, name) not in ("uint8", "int8"):
                raise _target_error(f"{name} must be 'uint8' or 'int8', got {getattr(self, name)!r}")
        if self.calibrate_method not in ("minmax", "entropy", "percentile"):
            raise _target_error(f"unknown calibrate_method {self.calibrate_method!r} (minmax, entropy, percentile)")
        if not 50.0 < self.calibrate_percentile <= 100.0:
            raise _target_error(f"calibrate_percentile must be in (50, 100], got {self.calibrate_percentile!r}")
        if self.quant_format == "QOperator" and self.activation_type == "int8":
            raise _target_error(
                "S8S8 (int8 activations) with the QOperator format is slow on x86-64 and not what ONNX Runtime "
                "recommends; use quant_format='QDQ' or activation_type='uint8'"
            )


@dataclass(frozen=True, kw_only=True)
class Target:
    """A device kind. ``reasons`` maps each setting's name to why it has that value.

    A contradictory target raises ``TargetError`` at construction: an engine or CPU feature of another architecture,
    a format listed twice, threads below 1, reduced-range weights on ARM, an unknown setting in ``reasons``.
    Format names are checked against edge-infer's format table when a bundle is built.
    """

    name: str
    description: str
    arch: str
    threads: int
    formats: tuple[str, ...]
    torch_qengine: str
    onnx_quant: OnnxQuantSettings = field(default_factory=OnnxQuantSettings)
    cpu_features: tuple[str, ...] = ()  # needed (or expected) on the device; doctor matches on them
    systems: tuple[str, ...] = ("linux",)  # operating systems the device runs (platform.system().lower())
    int8_arithmetic: str = "exact32"  # how the device sums int8 products: its int8 verdicts are judged in this
    notes: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def bad(message: str) -> Exception:
            return _target_error(f"target {self.name!r}: {message}")

        if self.arch not in ARCHES:
            raise bad(f"arch must be one of {', '.join(ARCHES)}, got {self.arch!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise bad(f"threads must be an integer of at least 1, got {self.threads!r}")
        if not self.formats:
            raise bad("needs at least one format")
        if len(set(self.formats)) != len(self.formats):
            raise bad(f"formats list a format twice: {', '.join(self.formats)}")
        if self.torch_qengine not in NATIVE_QENGINES[self.arch]:
            raise bad(
                f"torch quantized engine {self.torch_qengine!r} is not the {self.arch} engine "
                f"(use one of {', '.join(NATIVE_QENGINES[self.arch])}); int8 TorchScript built for it "
                + ("would not run there" if self.arch not in TORCH_QENGINE_ARCHES.get(self.torch_qengine, ()) else
                   "would run on the slow portable kernels")  # fmt: skip
            )
        foreign = [f for f in self.cpu_features if f not in CPU_FEATURES[self.arch]]
        if foreign:
            raise bad(
                f"CPU feature(s) {', '.join(foreign)} do not exist on {self.arch} "
                f"(known: {', '.join(CPU_FEATURES[self.arch])})"
            )
        if self.onnx_quant.reduce_range and self.arch != "x86_64":
            raise bad(
                "onnx_quant.reduce_range (7-bit weights) only avoids VPMADDUBSW saturation on x86-64 without VNNI; "
                "on ARM it just loses precision"
            )
        if self.int8_arithmetic not in INT8_ARITHMETICS:
            raise bad(f"int8_arithmetic must be one of {', '.join(INT8_ARITHMETICS)}, got {self.int8_arithmetic!r}")
        if self.arch not in INT8_ARITHMETIC_ARCHES[self.int8_arithmetic]:
            raise bad(f"int8_arithmetic {self.int8_arithmetic!r} does not exist on {self.arch} (16-bit pairs are an "
                      "x86 AVX2 instruction; Arm sums int8 products in 32 bits)")
        unknown_systems = [s for s in self.systems if s not in SYSTEMS]
        if not self.systems or unknown_systems:
            raise bad(f"systems must be a non-empty subset of {', '.join(SYSTEMS)}, got {self.systems!r}")
        settings = {f.name for f in fields(self)} - {"name", "description", "notes", "reasons"}
        stray = sorted(set(self.reasons) - settings)
        if stray:
            known = ", ".join(sorted(settings))
            raise bad(f"reasons given for unknown setting(s) {', '.join(stray)} (settings: {known})")

    def missing_for(self, arch: str, features: Iterable[str], system: str) -> list[str]:
        """Why a device with this arch / CPU features / OS does not fit this target (empty list: it fits)."""
        have = set(features)
        problems = []
        if arch != self.arch:
            problems.append(f"needs {self.arch}, device is {arch}")
        if system not in self.systems:
            problems.append(f"runs on {', '.join(self.systems)}, device runs {system}")
        lacking = [f for f in self.cpu_features if f not in have]
        if lacking and arch == self.arch:
            problems.append(f"CPU lacks {', '.join(lacking)}")
        return problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = dict(self.reasons)
        return d


def _profiles() -> tuple[Target, ...]:
    arm_u8s8 = OnnxQuantSettings(activation_type="uint8", weight_type="int8", per_channel=True, reduce_range=False,
                                 calibrate_method="percentile", bias_correction=True)  # fmt: skip
    arm_quant_reason = (
        "QDQ, uint8 activations x int8 per-channel weights, full 8-bit range: ONNX Runtime's ARM64 int8 kernels have "
        "no saturating u8*s8 instruction, so reduce_range would only cost precision; per-channel keeps depthwise "
        "convolutions accurate; percentile calibration and bias correction: the recipe that passes the int8 rule "
        "in exact arithmetic (docs/int8.md, 2026-12-07)"
    )
    return (
        Target(
            name="laptop-x86",
            description="x86-64 laptop or desktop (AVX2; VNNI on Intel Ice Lake+/AMD Zen 4+)",
            arch="x86_64",
            threads=4,
            formats=("onnx-int8", "onnx", "torchscript-int8", "torchscript"),
            torch_qengine="x86",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", weight_type="int8", per_channel=True,
                                         reduce_range=True),  # fmt: skip
            cpu_features=("avx2", "fma"),
            systems=("linux", "windows", "darwin"),
            int8_arithmetic="pairs16",
            notes=(
                "Without VNNI, int8 ONNX runs on AVX2's VPMADDUBSW; keep onnx-int8 only where it verifies and is "
                "faster (edge-infer bench).",
            ),
            reasons={
                "arch": "laptops and desktops are x86-64",
                "threads": "physical cores of a typical laptop (4); SMT siblings add contention, not speed",
                "formats": "ONNX Runtime is the fastest CPU runtime here; int8 first when it verifies, TorchScript "
                "for PyTorch-only deployments",
                "torch_qengine": "'x86' is PyTorch's x86 engine (FBGEMM, with oneDNN where faster)",
                "onnx_quant": "QDQ U8S8 per-channel with reduce_range: ONNX Runtime uses VPMADDUBSW for U8S8 on AVX2, "
                "which saturates with full-range per-channel weights on CPUs without VNNI (ORT docs)",
                "cpu_features": "AVX2 + FMA: every x86-64 laptop since 2013; ONNX Runtime's fast fp32 and int8 paths",
                "systems": "ONNX Runtime and OpenCV wheels exist for Linux, Windows and macOS on x86-64",
                "int8_arithmetic": "the floor of the profile is AVX2 without VNNI, whose u8 x s8 kernels add product "
                "pairs in 16 bits and saturate: int8 is judged in that arithmetic (laptop-x86-vnni for VNNI laptops)",
            },
        ),
        Target(
            name="laptop-x86-vnni",
            description="x86-64 laptop or desktop with AVX-512 VNNI (Intel Ice Lake and later with AVX-512, AMD Zen 4+)",
            arch="x86_64",
            threads=4,
            formats=("onnx-int8", "onnx", "torchscript-int8", "torchscript"),
            torch_qengine="x86",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", weight_type="int8", per_channel=True,
                                         reduce_range=False, calibrate_method="percentile",
                                         bias_correction=True),  # fmt: skip
            cpu_features=("avx2", "fma", "avx512_vnni"),
            systems=("linux", "windows", "darwin"),
            int8_arithmetic="exact32",
            notes=(
                "Intel laptops with AVX-VNNI but no AVX-512 (Alder Lake and later) also sum in 32 bits; `doctor` "
                "matches them to laptop-x86, whose bundle is faithful on them too.",
            ),
            reasons={
                "arch": "laptops and desktops are x86-64",
                "threads": "physical cores of a typical laptop (4); SMT siblings add contention, not speed",
                "formats": "int8 first: VNNI's vpdpbusd sums u8 x s8 products in 32 bits, where int8 is both exact "
                "and faster than fp32; fp32 ONNX as fallback",
                "torch_qengine": "'x86' is PyTorch's x86 engine (FBGEMM with VNNI kernels, oneDNN where faster)",
                "onnx_quant": "QDQ U8S8 per-channel with full 8-bit weights: with VNNI nothing saturates, so "
                "reduce_range would only cost precision; percentile calibration and bias correction: the recipe "
                "that passes the int8 rule in exact arithmetic (docs/int8.md, 2026-12-07)",
                "cpu_features": "AVX-512 VNNI is what makes int8 exact and fast; AVX2 + FMA for the fp32 paths",
                "systems": "ONNX Runtime and OpenCV wheels exist for Linux, Windows and macOS on x86-64",
                "int8_arithmetic": "VNNI sums int8 products in 32 bits: the exact QDQ arithmetic",
            },
        ),
        Target(
            name="rpi4",
            description="Raspberry Pi 4 (4x Cortex-A72 at 1.5-1.8 GHz, NEON, no dot-product), 64-bit OS",
            arch="aarch64",
            threads=4,
            formats=("onnx", "onnx-int8"),
            torch_qengine="qnnpack",
            onnx_quant=arm_u8s8,
            cpu_features=("asimd",),
            systems=("linux",),
            notes=(
                "The Cortex-A72 (ARMv8.0) has no dot-product (SDOT/UDOT) instructions: int8 gains are doubtful; "
                "measure with edge-infer bench before preferring onnx-int8.",
                "Needs a 64-bit OS (Raspberry Pi OS 64-bit): onnxruntime has no 32-bit ARM wheels on PyPI.",
            ),
            reasons={
                "arch": "64-bit Raspberry Pi OS runs aarch64; ONNX Runtime ships aarch64 wheels only",
                "threads": "4 Cortex-A72 cores, no SMT",
                "formats": "fp32 ONNX first: without dot-product, int8 GEMM is often not faster on the A72",
                "torch_qengine": "QNNPACK is PyTorch's ARM int8 engine (x86/FBGEMM do not exist on ARM)",
                "onnx_quant": arm_quant_reason,
                "cpu_features": "ASIMD (NEON) is the A72's only SIMD; ONNX Runtime's ARM64 kernels need it",
                "systems": "Raspberry Pi OS / Debian / Ubuntu",
                "int8_arithmetic": "ARM64 int8 kernels sum in 32 bits (dot-product, or NEON widening): the exact "
                "QDQ arithmetic",
            },
        ),
        Target(
            name="rpi5",
            description="Raspberry Pi 5 (4x Cortex-A76 at 2.4 GHz, NEON, dot-product), 64-bit OS",
            arch="aarch64",
            threads=4,
            formats=("onnx-int8", "onnx"),
            torch_qengine="qnnpack",
            onnx_quant=arm_u8s8,
            cpu_features=("asimd", "asimddp"),
            systems=("linux",),
            notes=(
                "The Cortex-A76 (ARMv8.2) has dot-product instructions (UDOT/SDOT), which ONNX Runtime's int8 "
                "kernels use; it has no i8mm (ARMv8.6).",
            ),
            reasons={
                "arch": "Raspberry Pi OS on the Pi 5 is 64-bit only",
                "threads": "4 Cortex-A76 cores, no SMT",
                "formats": "int8 first: the A76's dot-product instructions speed up int8 GEMM; fp32 ONNX as fallback",
                "torch_qengine": "QNNPACK is PyTorch's ARM int8 engine (x86/FBGEMM do not exist on ARM)",
                "onnx_quant": arm_quant_reason,
                "cpu_features": "asimddp (dot-product) is what tells a Pi 5 from a Pi 4 and makes int8 worthwhile",
                "systems": "Raspberry Pi OS / Debian / Ubuntu",
                "int8_arithmetic": "ARM64 int8 kernels sum in 32 bits (dot-product, or NEON widening): the exact "
                "QDQ arithmetic",
            },
        ),
        Target(
            name="mobile-arm64",
            description="Android / iOS phone (arm64, big.LITTLE cores)",
            arch="aarch64",
            threads=2,
            formats=("ort", "torchscript-mobile", "onnx-int8"),
            torch_qengine="qnnpack",
            onnx_quant=arm_u8s8,
            cpu_features=("asimd",),
            systems=("android", "ios"),
            notes=(
                "In an app, load the .ort file with ONNX Runtime Mobile (onnxruntime-android / onnxruntime-objc) or "
                "the .ptl file with the PyTorch lite interpreter; preprocessing is in the manifest.",
                "Most phones since 2018 (Cortex-A75+, Apple A11+) have dot-product, so int8 usually pays off.",
            ),
            reasons={
                "arch": "every current Android and iOS phone is arm64",
                "threads": "the big cores (usually 2-4); scheduling onto the LITTLE cores makes latency erratic",
                "formats": "ONNX Runtime Mobile (.ort) and the PyTorch lite interpreter (.ptl) are the app runtimes",
                "torch_qengine": "QNNPACK is PyTorch Mobile's int8 engine",
                "onnx_quant": arm_quant_reason,
                "cpu_features": "ASIMD only: dot-product is common but not universal on phones",
                "systems": "Android and iOS; Python is not the runtime there, the app's ONNX Runtime / PyTorch is",
                "int8_arithmetic": "ARM64 int8 kernels sum in 32 bits (dot-product, or NEON widening): the exact "
                "QDQ arithmetic",
            },
        ),
    )


BUILTIN_PROFILES: tuple[Target, ...] = _profiles()
