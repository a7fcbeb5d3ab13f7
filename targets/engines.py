"""Quantized-engine rules: which torch quantized engine runs on which CPU architecture, and what to say when an
int8 artifact was built for an engine this device lacks. Stdlib only."""

from __future__ import annotations

ARCHES = ("x86_64", "aarch64")
# The torch quantized engine an int8 TorchScript artifact is built for decides where it runs: x86 / fbgemm / onednn
# kernels exist only in x86-64 builds of PyTorch, QNNPACK is in both ARM and x86-64 builds.
TORCH_QENGINE_ARCHES: dict[str, tuple[str, ...]] = {
    "x86": ("x86_64",),
    "fbgemm": ("x86_64",),
    "onednn": ("x86_64",),
    "qnnpack": ("aarch64", "x86_64"),
}
# The engine a target of each architecture should build for (the fast one there; a target may not pick another).
NATIVE_QENGINES: dict[str, tuple[str, ...]] = {"x86_64": ("x86", "fbgemm", "onednn"), "aarch64": ("qnnpack",)}
# How a CPU sums int8 products (edge_infer.arithmetic reads this table): the arithmetic an int8 verdict holds for.
INT8_ARITHMETICS: dict[str, str] = {
    "exact32": "int8 products summed in 32 bits (exact): AVX-512 VNNI / AVX-VNNI, Arm dot-product and NEON, SSE",
    "pairs16": "u8 x s8 products added in pairs in 16 bits, saturating: AVX2 / AVX-512 without VNNI (vpmaddubsw)",
}
# The architectures on which each arithmetic exists (16-bit pairs are an x86 AVX2 instruction).
INT8_ARITHMETIC_ARCHES: dict[str, tuple[str, ...]] = {"exact32": ("x86_64", "aarch64"), "pairs16": ("x86_64",)}


def qengine_runs_on(engine: str, arch: str) -> bool:
    """Whether int8 TorchScript built with torch quantized ``engine`` can run on ``arch``."""
    return arch in TORCH_QENGINE_ARCHES.get(engine, ())


def engine_problem(engine: str | None, arch: str, *, where: str = "", target: str | None = None) -> str | None:
    """Why an artifact quantized for torch ``engine`` cannot run on ``arch``, with what to do (None: it can, or the
    artifact has no quantized engine). ``where`` (a file name) prefixes the message; ``target`` is the profile to
    suggest re-exporting for."""
    if engine is None or qengine_runs_on(engine, arch):
        return None
    built_for = ", ".join(TORCH_QENGINE_ARCHES.get(engine, ("an unknown architecture",)))
    if target:
        command = f"`edge-infer export --target {target}`"
    elif arch == "aarch64":
        command = "`edge-infer export --target rpi5` (or rpi4, mobile-arm64)"
    else:
        command = "`edge-infer export --target laptop-x86`"
    native = NATIVE_QENGINES.get(arch, ("?",))[0]
    return (
        f"{where + ': ' if where else ''}int8 model quantized for PyTorch's {engine!r} engine ({built_for} only), "
        f"which does not exist on this {arch} device; re-export it with {command}, which quantizes for {native!r}, "
        "or use a float or ONNX artifact"
    )
