"""Target profiles: threads, preferred formats, quantization engines, each setting with the reason for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_infer.errors import TargetError, UnknownNameError

ARCHES = ("x86_64", "aarch64")
TORCH_QENGINES = {"x86_64": ("x86", "fbgemm"), "aarch64": ("qnnpack",)}


@dataclass(frozen=True, kw_only=True)
class OnnxQuantSettings:
    """ONNX Runtime static quantization settings (see onnxruntime.quantization.quantize_static)."""

    quant_format: str = "QDQ"
    activation_type: str = "uint8"  # "uint8" (U8S8) or "int8" (S8S8)
    weight_type: str = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    calibrate_method: str = "minmax"  # "minmax", "entropy", "percentile"

    def __post_init__(self) -> None:
        if self.quant_format not in ("QDQ", "QOperator"):
            raise TargetError(f"quant_format must be QDQ or QOperator, got {self.quant_format!r}")
        for name in ("activation_type", "weight_type"):
            if getattr(self, name) not in ("uint8", "int8"):
                raise TargetError(f"{name} must be 'uint8' or 'int8', got {getattr(self, name)!r}")
        if self.calibrate_method not in ("minmax", "entropy", "percentile"):
            raise TargetError(f"unknown calibrate_method {self.calibrate_method!r}")


@dataclass(frozen=True, kw_only=True)
class Target:
    """A device kind. ``reasons`` maps each setting's name to why it has that value."""

    name: str
    description: str
    arch: str
    threads: int
    formats: tuple[str, ...]
    torch_qengine: str
    onnx_quant: OnnxQuantSettings = field(default_factory=OnnxQuantSettings)
    cpu_features: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise TargetError(f"target {self.name!r}: arch must be one of {ARCHES}, got {self.arch!r}")
        if self.threads < 1:
            raise TargetError(f"target {self.name!r}: threads must be at least 1, got {self.threads}")
        if self.torch_qengine not in TORCH_QENGINES[self.arch]:
            raise TargetError(
                f"target {self.name!r}: torch quantized engine {self.torch_qengine!r} does not run on {self.arch} "
                f"(use one of {TORCH_QENGINES[self.arch]})"
            )
        if not self.formats:
            raise TargetError(f"target {self.name!r}: needs at least one format")


PROFILES: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="laptop-x86",
            description="x86-64 laptop or desktop CPU (AVX2; VNNI on newer Intel/AMD)",
            arch="x86_64",
            threads=4,
            formats=("onnx-int8", "onnx", "torchscript", "torchscript-int8"),
            torch_qengine="x86",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", per_channel=True, reduce_range=False),
            cpu_features=("avx2",),
            reasons={
                "threads": "physical cores of a typical laptop; more threads than cores adds contention",
                "formats": "ONNX Runtime is the fastest CPU runtime here; int8 first when it verifies",
                "torch_qengine": "'x86' is PyTorch's x86 engine (fbgemm with onednn where faster)",
                "onnx_quant": "U8S8: unsigned activations use the AVX2 u8*s8 path; S8S8 is slow without VNNI",
            },
        ),
        Target(
            name="rpi4",
            description="Raspberry Pi 4 (Cortex-A72, 4 cores, NEON, no dot-product)",
            arch="aarch64",
            threads=4,
            formats=("onnx", "onnx-int8"),
            torch_qengine="qnnpack",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", per_channel=True),
            cpu_features=("neon",),
            notes=("Cortex-A72 has no dot-product (SDOT/UDOT) instructions: int8 gains are doubtful; measure.",),
            reasons={
                "threads": "4 Cortex-A72 cores",
                "formats": "fp32 ONNX first: without dot-product, int8 often is not faster on the A72",
                "torch_qengine": "qnnpack is PyTorch's ARM int8 engine",
                "onnx_quant": "U8S8 is ONNX Runtime's default ARM int8 kernel path",
            },
        ),
        Target(
            name="rpi5",
            description="Raspberry Pi 5 (Cortex-A76, 4 cores, NEON, dot-product)",
            arch="aarch64",
            threads=4,
            formats=("onnx-int8", "onnx"),
            torch_qengine="qnnpack",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", per_channel=True),
            cpu_features=("neon", "asimddp"),
            notes=("Cortex-A76 has dot-product instructions, which ONNX Runtime's int8 kernels use.",),
            reasons={
                "threads": "4 Cortex-A76 cores",
                "formats": "int8 first: the A76's dot-product instructions speed up int8 GEMM",
                "torch_qengine": "qnnpack is PyTorch's ARM int8 engine",
                "onnx_quant": "U8S8 with per-channel weights, ONNX Runtime's ARM int8 path",
            },
        ),
        Target(
            name="mobile-arm64",
            description="Android / iOS phone (arm64, big.LITTLE)",
            arch="aarch64",
            threads=2,
            formats=("ort", "torchscript-mobile", "onnx-int8"),
            torch_qengine="qnnpack",
            onnx_quant=OnnxQuantSettings(activation_type="uint8", per_channel=True),
            cpu_features=("neon", "asimddp"),
            reasons={
                "threads": "two big cores; using the LITTLE cores too makes latency erratic",
                "formats": "ONNX Runtime Mobile (.ort) and the PyTorch lite interpreter (.ptl) are the app runtimes",
                "torch_qengine": "qnnpack is PyTorch's ARM int8 engine",
                "onnx_quant": "U8S8 with per-channel weights",
            },
        ),
    )
}


def get_target(name: str) -> Target:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownNameError("target", name, PROFILES) from None


def target_names() -> list[str]:
    return list(PROFILES)
