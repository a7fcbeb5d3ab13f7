"""What machine is this? CPU model, cores, instruction sets, memory, OS and library versions. Stdlib only.

Read by ``edge-infer bench`` (recorded with every result) and by the target/doctor side (which profile fits this
device). Never imports torch or any other heavy library: versions come from installed package metadata.

    from edge_infer.machine import machine_info
    info = machine_info()
    info.arch, info.cores_physical, info.isa["avx2"], info.isa["vnni"], info.to_dict()
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

# Libraries whose versions change latency; read from metadata, never imported.
LIBRARIES = (
    "edge-infer", "numpy", "onnxruntime", "opencv-python-headless", "pillow", "torch", "torchvision", "onnx",
    "psutil", "matplotlib", "openvino", "executorch", "ai-edge-litert",
)  # fmt: skip

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8l": "aarch64"}

# Summary flag -> Linux /proc/cpuinfo names that imply it (x86 "flags", aarch64 "Features").
_ISA_NAMES: dict[str, tuple[str, ...]] = {
    "sse4_2": ("sse4_2",),
    "avx": ("avx",),
    "avx2": ("avx2",),
    "fma": ("fma",),
    "f16c": ("f16c",),
    "avx512": ("avx512f",),
    # int8 dot-product instructions: AVX-512 VNNI / AVX-VNNI on x86, SDOT/UDOT (asimddp) on Arm.
    "vnni": ("avx512_vnni", "avx_vnni", "avx512vnni", "avxvnni"),
    "amx": ("amx_tile", "amx_int8"),
    "neon": ("asimd", "neon"),
    "dotprod": ("asimddp",),
    "i8mm": ("i8mm",),
    # half-precision arithmetic: Arm fphp/asimdhp, x86 AVX-512 FP16.
    "fp16": ("asimdhp", "fphp", "avx512fp16"),
    "bf16": ("bf16", "avx512_bf16"),
    "sve": ("sve",),
}

# Linux arm64 hardware capability bits (uapi asm/hwcap.h) -> /proc/cpuinfo "Features" names.
_AT_HWCAP, _AT_HWCAP2 = 16, 26
_ARM64_HWCAP = ("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp", "asimdhp",
                "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4", "asimddp", "sha512",
                "sve", "asimdfhm")  # fmt: skip
_ARM64_HWCAP2 = {1: "sve2", 9: "svei8mm", 12: "svebf16", 13: "i8mm", 14: "bf16"}

# macOS sysctl keys (hw.optional.*) -> the same summary flags.
_DARWIN_KEYS = {
    "neon": "hw.optional.neon",
    "dotprod": "hw.optional.arm.FEAT_DotProd",
    "i8mm": "hw.optional.arm.FEAT_I8MM",
    "fp16": "hw.optional.arm.FEAT_FP16",
    "bf16": "hw.optional.arm.FEAT_BF16",
    "avx2": "hw.optional.avx2_0",
    "avx512": "hw.optional.avx512f",
    "fma": "hw.optional.fma",
}


@dataclass(frozen=True, kw_only=True)
class MachineInfo:
    """One snapshot of the machine a benchmark or export ran on."""

    cpu_model: str
    arch: str
    cores_physical: int
    cores_logical: int
    cores_usable: int
    isa: dict[str, bool]
    cpu_flags: tuple[str, ...]
    memory_total_mb: float | None
    memory_available_mb: float | None
    os: str
    os_release: str
    distro: str
    device_model: str
    cpu_governor: str
    python: str
    libraries: dict[str, str] = field(default_factory=dict)

    @property
    def isa_summary(self) -> str:
        """The flags that are present, e.g. ``"avx2 fma f16c"``."""
        return " ".join(k for k, v in self.isa.items() if v)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_model": self.cpu_model,
            "arch": self.arch,
            "cores_physical": self.cores_physical,
            "cores_logical": self.cores_logical,
            "cores_usable": self.cores_usable,
            "isa": dict(self.isa),
            "cpu_flags": list(self.cpu_flags),
            "memory_total_mb": self.memory_total_mb,
            "memory_available_mb": self.memory_available_mb,
            "os": self.os,
            "os_release": self.os_release,
            "distro": self.distro,
            "device_model": self.device_model,
            "cpu_governor": self.cpu_governor,
            "python": self.python,
            "libraries": dict(self.libraries),
        }


def normalize_arch(machine: str) -> str:
    """``platform.machine()`` spelled the way Linux and our targets spell it (``x86_64``, ``aarch64``)."""
    m = machine.strip().lower()
    return _ARCH_ALIASES.get(m, m)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """``/proc/cpuinfo`` as one dict per processor block (keys lower-case)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def cpu_flags_from_cpuinfo(blocks: list[dict[str, str]]) -> tuple[str, ...]:
    """The CPU feature names of the first processor ("flags" on x86, "Features" on Arm), sorted."""
    for b in blocks:
        raw = b.get("flags") or b.get("features")
        if raw:
            return tuple(sorted(set(raw.split())))
    return ()


def flags_from_hwcap(hwcap: int, hwcap2: int) -> tuple[str, ...]:
    """arm64 feature names from the kernel's AT_HWCAP / AT_HWCAP2 bits, sorted."""
    names = {n for bit, n in enumerate(_ARM64_HWCAP) if hwcap >> bit & 1}
    names |= {n for bit, n in _ARM64_HWCAP2.items() if hwcap2 >> bit & 1}
    return tuple(sorted(names))


def _hwcap_flags() -> tuple[str, ...]:
    """This process's arm64 features as the kernel (or an emulator) gives them, or () where unavailable."""
    try:
        import ctypes

        getauxval = ctypes.CDLL(None).getauxval
        getauxval.restype = ctypes.c_ulong
        getauxval.argtypes = [ctypes.c_ulong]
        return flags_from_hwcap(int(getauxval(_AT_HWCAP)), int(getauxval(_AT_HWCAP2)))
    except (OSError, AttributeError):
        return ()


def isa_from_flags(flags: tuple[str, ...] | list[str] | set[str], arch: str) -> dict[str, bool]:
    """Summary instruction-set flags from raw CPU feature names. Every aarch64 CPU has NEON (ASIMD)."""
    have = set(flags)
    isa = {k: any(n in have for n in names) for k, names in _ISA_NAMES.items()}
    if arch == "aarch64":
        isa["neon"] = True
    return isa


def _cpu_model(blocks: list[dict[str, str]]) -> str:
    for key in ("model name", "hardware", "cpu model", "processor"):
        for b in blocks:
            v = b.get(key, "")
            if v and not v.isdigit():
                return v
    parts = [b.get(k) for b in blocks[:1] for k in ("cpu implementer", "cpu part")]
    if all(parts) and parts:
        return f"Arm implementer {parts[0]} part {parts[1]}"
    return platform.processor() or platform.machine() or "unknown"


def _physical_cores(blocks: list[dict[str, str]], logical: int) -> int:
    pairs = {(b.get("physical id", "0"), b["core id"]) for b in blocks if "core id" in b}
    if pairs:
        return len(pairs)
    cores = set()
    for topo in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        core, pkg = _read(str(topo / "core_id")).strip(), _read(str(topo / "physical_package_id")).strip()
        if core:
            cores.add((pkg, core))
    return len(cores) if cores else logical


def _usable_cores(logical: int) -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return logical


def _meminfo_mb() -> tuple[float | None, float | None]:
    values: dict[str, float] = {}
    for line in _read("/proc/meminfo").splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            values[m.group(1)] = int(m.group(2)) / 1024
    total, avail = values.get("MemTotal"), values.get("MemAvailable")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        except (ValueError, OSError, AttributeError):
            total = _sysctl_int("hw.memsize") / 2**20 if _sysctl_int("hw.memsize") else None
    return (round(total, 1) if total else None, round(avail, 1) if avail else None)


def _sysctl(key: str) -> str:
    try:
        out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _sysctl_int(key: str) -> int:
    v = _sysctl(key)
    return int(v) if v.isdigit() else 0


def _distro() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    if platform.system() == "Darwin":
        return f"macOS {platform.mac_ver()[0]}"
    return ""


def library_versions(packages: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions (from package metadata, nothing imported); packages not installed are left out."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _darwin_facts(arch: str) -> tuple[str, int, dict[str, bool]]:
    model = _sysctl("machdep.cpu.brand_string") or platform.processor()
    physical = _sysctl_int("hw.physicalcpu")
    isa = isa_from_flags((), arch)
    for k, key in _DARWIN_KEYS.items():
        isa[k] = isa[k] or _sysctl(key) == "1"
    return model, physical, isa


@lru_cache(maxsize=1)
def _static_info() -> dict[str, Any]:
    arch = normalize_arch(platform.machine())
    blocks = parse_cpuinfo(_read("/proc/cpuinfo"))
    logical = os.cpu_count() or max(1, len([b for b in blocks if "processor" in b]))
    flags = cpu_flags_from_cpuinfo(blocks)
    if arch == "aarch64" and platform.system() == "Linux":
        # The auxiliary vector is right where /proc/cpuinfo is not: under qemu user-mode emulation (the host's
        # file) and in containers that virtualize it.
        flags = _hwcap_flags() or flags
    if blocks:
        model, physical, isa = _cpu_model(blocks), _physical_cores(blocks, logical), isa_from_flags(flags, arch)
    elif platform.system() == "Darwin":
        model, physical, isa = _darwin_facts(arch)
    else:  # Windows and others: what the stdlib knows
        model, physical, isa = platform.processor() or arch, 0, isa_from_flags((), arch)
    return {
        "cpu_model": model,
        "arch": arch,
        "cores_physical": physical or logical,
        "cores_logical": logical,
        "isa": isa,
        "cpu_flags": flags,
        "device_model": _read("/proc/device-tree/model").strip("\x00 \n"),
        "distro": _distro(),
    }


def machine_info() -> MachineInfo:
    """Describe this machine now (CPU facts are cached; free memory and the CPU governor are read each call)."""
    s = _static_info()
    total, avail = _meminfo_mb()
    return MachineInfo(
        cpu_model=s["cpu_model"],
        arch=s["arch"],
        cores_physical=s["cores_physical"],
        cores_logical=s["cores_logical"],
        cores_usable=_usable_cores(s["cores_logical"]),
        isa=dict(s["isa"]),
        cpu_flags=s["cpu_flags"],
        memory_total_mb=total,
        memory_available_mb=avail,
        os=platform.system(),
        os_release=platform.release(),
        distro=s["distro"],
        device_model=s["device_model"],
        cpu_governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").strip(),
        python=platform.python_version(),
        libraries=library_versions(),
    )


def device_slug(info: MachineInfo | None = None) -> str:
    """This machine's results folder name under ``benchmarks/results/``: the device model (a Raspberry Pi's) or the
    CPU model and logical cores, and the architecture, lower-case with dashes (``amd-epyc-2c-x86-64``)."""
    m = info or machine_info()
    name = m.device_model or f"{m.cpu_model} {m.cores_logical}c"
    return re.sub(r"[^a-z0-9]+", "-", f"{name} {m.arch}".lower()).strip("-")


def load_average() -> tuple[float, float, float] | None:
    """1/5/15-minute load averages (None where the OS has none): a busy machine makes latencies noisy."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None
