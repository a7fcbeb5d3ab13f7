"""Machine facts recorded with every measurement: ISA flags from /proc/cpuinfo and arm64 hwcaps, this machine, and
a stdlib-only module (it runs on a device before anything else is installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge_infer.machine import cpu_flags_from_cpuinfo, isa_from_flags, machine_info, parse_cpuinfo

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid asimdhp asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b

processor\t: 1
Features\t: fp asimd evtstrm crc32 cpuid asimdhp asimddp
"""
X86_FLAGS = "fpu sse4_2 avx avx2 fma f16c avx512f avx512_vnni"


def test_isa_flags_from_cpuinfo() -> None:
    arm = isa_from_flags(cpu_flags_from_cpuinfo(parse_cpuinfo(ARM_CPUINFO)), "aarch64")
    assert arm["neon"] and arm["dotprod"] and arm["fp16"] and not arm["avx2"] and not arm["i8mm"]
    x86 = isa_from_flags(X86_FLAGS.split(), "x86_64")
    assert x86["avx2"] and x86["avx512"] and x86["vnni"] and not x86["neon"] and not x86["dotprod"]
    assert not isa_from_flags(["avx2"], "x86_64")["vnni"]


def test_arm64_hwcap_bits_give_the_cpuinfo_feature_names() -> None:
    """A Raspberry Pi 5 (Cortex-A76): LD_SHOW_AUXV=1 prints AT_HWCAP 0x119fff, /proc/cpuinfo the names below."""
    from edge_infer.machine import flags_from_hwcap

    pi5 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
    assert flags_from_hwcap(0x119FFF, 0) == tuple(sorted(pi5.split()))
    isa = isa_from_flags(flags_from_hwcap(0x119FFF, 1 << 13), "aarch64")  # + HWCAP2_I8MM
    assert isa["neon"] and isa["dotprod"] and isa["fp16"] and isa["i8mm"] and not isa["sve"]


def test_machine_info_of_this_machine() -> None:
    info = machine_info()
    d = info.to_dict()
    assert info.cores_logical >= info.cores_physical >= 1 and info.cores_usable >= 1
    assert info.arch in ("x86_64", "aarch64") or info.arch
    assert d["memory_total_mb"] and d["memory_total_mb"] > 100
    assert "python" in d["libraries"] and "numpy" in d["libraries"]
    json.dumps(d)  # serialisable as is


def test_machine_module_is_stdlib_only() -> None:
    code = (
        "import sys, importlib.util; spec = importlib.util.spec_from_file_location('m', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); sys.modules['m'] = m; spec.loader.exec_module(m); "
        "m.machine_info(); "
        "bad = [x for x in ('numpy', 'torch', 'onnxruntime', 'psutil') if x in sys.modules]; print(bad)"
    )
    path = Path(__file__).parents[1] / "edge_infer" / "machine.py"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_device_slug_names_the_results_folder() -> None:
    import dataclasses

    from edge_infer.machine import device_slug, machine_info

    m = dataclasses.replace(machine_info(), cpu_model="AMD EPYC 9R14 96-Core Processor", cores_logical=2,
                            arch="x86_64", device_model="")  # fmt: skip
    assert device_slug(m) == "amd-epyc-9r14-96-core-processor-2c-x86-64"
    pi = dataclasses.replace(m, device_model="Raspberry Pi 5 Model B Rev 1.0", arch="aarch64")
    assert device_slug(pi) == "raspberry-pi-5-model-b-rev-1-0-aarch64"
